import { Sha256 } from '../lib/sha256.ts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { HttpOrigin } from './http.ts';

/**
 * The two AWS JSON-protocol services `up` and `down` call. Each call is one signed POST, so the
 * agent needs neither the SDK clients nor their middleware, endpoint rule sets and schemas:
 * loading those took longer than the rest of an `up` before the request is sent.
 */
export const EVENTBRIDGE = {
  endpointPrefix: 'events',
  signingName: 'events',
  targetPrefix: 'AWSEvents',
  contentType: 'application/x-amz-json-1.1',
  endpointEnv: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
} as const;
export const DYNAMODB = {
  endpointPrefix: 'dynamodb',
  signingName: 'dynamodb',
  targetPrefix: 'DynamoDB_20120810',
  contentType: 'application/x-amz-json-1.0',
  endpointEnv: 'AWS_ENDPOINT_URL_DYNAMODB',
} as const;
export type AwsJsonService = typeof EVENTBRIDGE | typeof DYNAMODB;

/** What publishing and polling need of a service: one call, cancelled by the signal. */
export interface AwsJsonCaller {
  call(operation: string, input: object, signal: AbortSignal): Promise<unknown>;
}

/** A larger answer is not one of ours (PutEvents of one entry, GetItem of one record). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The service's answer when it said no: `name` is the AWS error code and `$metadata` carries the
 * HTTP status where SDK errors carry it, so retry rules and messages read both the same way.
 */
export class AwsServiceError extends Error {
  public readonly $metadata: { httpStatusCode: number };

  public constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** The endpoint the SDK would use with the same environment (service variable, then the global one). */
export function endpointFor(service: AwsJsonService, region: string, env: NodeJS.ProcessEnv): URL {
  const override = env[service.endpointEnv] ?? env.AWS_ENDPOINT_URL;
  if (override !== undefined && override !== '') return new URL(override);
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return new URL(`https://${service.endpointPrefix}.${region}.${domain}/`);
}

export interface AwsJsonClientOptions {
  region: string;
  credentials: AwsCredentialIdentity;
  env: NodeJS.ProcessEnv;
}

/**
 * SigV4-signed calls to one AWS JSON-protocol service over one kept-alive connection. No
 * retries here: publishing and polling own their retry rules.
 */
export class AwsJsonClient implements AwsJsonCaller {
  public readonly endpoint: URL;
  private readonly service: AwsJsonService;
  private readonly signer: SignatureV4;
  private readonly origin: HttpOrigin;

  public constructor(service: AwsJsonService, options: AwsJsonClientOptions) {
    this.service = service;
    this.endpoint = endpointFor(service, options.region, options.env);
    this.origin = new HttpOrigin(this.endpoint.protocol === 'https:');
    this.signer = new SignatureV4({
      service: service.signingName,
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
    });
  }

  public async call(operation: string, input: object, signal: AbortSignal): Promise<unknown> {
    const body = JSON.stringify(input);
    const { endpoint, service } = this;
    const signed = await this.signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: endpoint.port === '' ? undefined : Number(endpoint.port),
        path: endpoint.pathname,
        headers: {
          host: endpoint.host,
          'content-type': service.contentType,
          'x-amz-target': `${service.targetPrefix}.${operation}`,
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      }),
    );
    const { status, text } = await this.origin.exchange(endpoint, { method: 'POST', headers: signed.headers, body, signal, maxBytes: MAX_RESPONSE_BYTES });
    const parsed = parseJson(text);
    if (status >= 200 && status < 300) {
      if (parsed === undefined) throw new AwsServiceError('InvalidResponse', `${operation} answered HTTP ${status} without a JSON body`, status);
      return parsed;
    }
    throw serviceError(operation, status, parsed, text);
  }

  public destroy(): void {
    this.origin.close();
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** AWS JSON errors name their code in `__type` (`prefix#Code`) and explain it in `message`. */
function serviceError(operation: string, status: number, parsed: unknown, text: string): AwsServiceError {
  const document = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const type = typeof document.__type === 'string' ? document.__type : undefined;
  const code = type?.split('#').pop() ?? (status >= 500 ? 'InternalFailure' : `HTTP${status}`);
  const message = document.message ?? document.Message;
  const text200 = text.slice(0, 200);
  return new AwsServiceError(code, typeof message === 'string' ? message : text200 === '' ? `${operation} answered HTTP ${status}` : text200, status);
}
