import type { HttpHandler } from '@smithy/protocol-http';
import type { Proof } from '../../lib/contract.ts';
import { DIGEST_HEADER, stsHttpRequest } from '../../lib/proof.ts';
import { ProofRefusedError, StsUnavailableError, type CallerIdentity } from '../core/ports.ts';

/** The headers a GetCallerIdentity proof may carry to STS; anything else is dropped. */
export const FORWARDED_PROOF_HEADERS = [
  'host',
  'authorization',
  'content-type',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  DIGEST_HEADER,
] as const;

/** The caller-identity port: proofs replayed over `http` to the controller's STS endpoint. */
export class StsCallerIdentity implements CallerIdentity {
  public constructor(
    private readonly http: HttpHandler,
    private readonly endpoint: URL,
  ) {}

  public async callerArn(proof: Proof): Promise<string> {
    return await callerArnFromProof(this.http, this.endpoint, proof);
  }
}

/** STS error codes that say "ask again later", not "this signature is bad". */
const STS_THROTTLING_CODES = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException']);
/** Attempts at the replay when STS is throttling, failing inside, or unreachable. */
export const STS_PROOF_ATTEMPTS = 3;
const STS_RETRY_BASE_MS = 100;

/**
 * Replays the signed GetCallerIdentity request to the controller's own STS endpoint and returns
 * the caller's ARN. The endpoint comes from configuration, never from the event. Throttling, 5xx
 * and network errors are asked again (the replay changes nothing, and the proof stays valid for
 * minutes); a refusal of the signature is final.
 */
async function callerArnFromProof(
  http: HttpHandler,
  endpoint: URL,
  proof: Proof,
  timeoutMs = 5000,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await replayProofOnce(http, endpoint, proof, timeoutMs);
    } catch (error) {
      if (!(error instanceof StsUnavailableError) || attempt >= STS_PROOF_ATTEMPTS) throw error;
      // Full jitter, as the SDKs do: spread the retries of many controllers hit at once.
      await sleep(Math.random() * STS_RETRY_BASE_MS * 2 ** attempt);
    }
  }
}

async function replayProofOnce(http: HttpHandler, endpoint: URL, proof: Proof, timeoutMs: number): Promise<string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_PROOF_HEADERS) {
    const value = proof.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const request = stsHttpRequest(endpoint, headers, proof.body);
  let status: number;
  let text: string;
  try {
    const { response } = await http.handle(request, { abortSignal: AbortSignal.timeout(timeoutMs) });
    status = response.statusCode;
    text = await readBody(response.body);
  } catch (error) {
    throw new StsUnavailableError(`STS at ${endpoint.host} did not answer: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (status === 200 && arn !== undefined) return arn;
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
  if (code !== undefined && STS_THROTTLING_CODES.has(code)) {
    throw new StsUnavailableError(`STS at ${endpoint.host} is throttling (${code})`);
  }
  if (status >= 400 && status < 500) throw new ProofRefusedError(code ?? `HTTP ${status}`, message.slice(0, 200));
  throw new StsUnavailableError(`STS at ${endpoint.host} answered HTTP ${status}${code ? ` ${code}` : ''}`);
}

async function readBody(body: unknown): Promise<string> {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, 20_000);
}
