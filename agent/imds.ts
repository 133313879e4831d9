import type { Deadline } from './deadline.ts';
import { AgentError, EXIT, describeAwsError } from './errors.ts';
import { HttpOrigin, type HttpExchange } from './http.ts';

/** The SDK's own override variables, so one setting points both this client and the credential chain. */
export const IMDS_ENDPOINT_ENV = 'AWS_EC2_METADATA_SERVICE_ENDPOINT';
export const IMDS_ENDPOINT_MODE_ENV = 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE';
const TOKEN_TTL_SECONDS = '21600';
/** IMDS answers in microseconds on a healthy instance; a silent one should not eat the whole deadline. */
const CALL_TIMEOUT_MS = 2000;
const ATTEMPTS = 3;
/** After the token, `up` reads identity and the credentials' role at once: one socket each. */
const PARALLEL_READS = 4;
/** IMDS answers are short (the largest the agent reads is the credentials document). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** IMDS did not answer, refused, or answered something unusable. */
export class InstanceMetadataError extends AgentError {
  public readonly status: number | undefined;

  public constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, EXIT.failed, options);
    this.name = 'InstanceMetadataError';
    this.status = options?.status;
  }
}

/** The IMDS base URL the SDK would use with the same environment. */
export function imdsEndpointFor(env: NodeJS.ProcessEnv): string {
  const override = env[IMDS_ENDPOINT_ENV];
  if (override !== undefined && override !== '') return override.replace(/\/+$/, '');
  return env[IMDS_ENDPOINT_MODE_ENV]?.toLowerCase() === 'ipv6' ? 'http://[fd00:ec2::254]' : 'http://169.254.169.254';
}

/** A minimal IMDSv2 client: one session token, GETs with it, every call bounded by the deadline. */
export class InstanceMetadata {
  public readonly endpoint: string;
  private readonly deadline: Deadline;
  private readonly origin: HttpOrigin;
  private token: Promise<string> | undefined;

  public constructor(endpoint: string, deadline: Deadline) {
    this.endpoint = endpoint;
    this.deadline = deadline;
    this.origin = new HttpOrigin(endpoint.startsWith('https:'), PARALLEL_READS);
  }

  /** Text of `/latest/<path>`, e.g. `meta-data/instance-id`. */
  public async get(path: string): Promise<string> {
    const token = await this.sessionToken();
    const response = await this.call(`GET ${path}`, `/latest/${path}`, {
      method: 'GET',
      headers: { 'x-aws-ec2-metadata-token': token },
    });
    return response.trim();
  }

  private async sessionToken(): Promise<string> {
    this.token ??= this.call('PUT api/token', '/latest/api/token', {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': TOKEN_TTL_SECONDS },
    }).catch((error: unknown) => {
      this.token = undefined;
      throw error;
    });
    return await this.token;
  }

  private async call(what: string, path: string, init: Pick<HttpExchange, 'method' | 'headers'>): Promise<string> {
    const url = new URL(`${this.endpoint}${path}`);
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      try {
        return await this.deadline.race(
          `waiting for IMDS (${what} at ${this.endpoint})`,
          async (signal) => {
            const response = await this.origin.exchange(url, { ...init, signal, maxBytes: MAX_ANSWER_BYTES });
            const body = response.text;
            // IMDS never redirects, and node:http follows none: a redirect would carry the token elsewhere.
            if (response.status >= 300 && response.status < 400) {
              throw new InstanceMetadataError(
                `IMDS answered a redirect (HTTP ${response.status}) to ${what} at ${this.endpoint}; redirects are not followed`,
                { status: response.status },
              );
            }
            if (response.status < 200 || response.status > 299) {
              throw new InstanceMetadataError(`IMDS answered HTTP ${response.status} to ${what} at ${this.endpoint}`, {
                status: response.status,
              });
            }
            return body;
          },
          CALL_TIMEOUT_MS,
        );
      } catch (error) {
        if (error instanceof AgentError && !(error instanceof InstanceMetadataError)) throw error;
        // A 4xx is an answer, not an outage: retrying it only burns the deadline.
        if (error instanceof InstanceMetadataError && error.status !== undefined && error.status < 500) throw error;
        lastError = error;
        if (attempt < ATTEMPTS && !(await this.deadline.sleep(100 * attempt))) break;
      }
    }
    if (lastError instanceof InstanceMetadataError) throw lastError;
    throw new InstanceMetadataError(`IMDS unreachable at ${this.endpoint} (${what}): ${describeAwsError(lastError)}`, {
      cause: lastError,
    });
  }
}
