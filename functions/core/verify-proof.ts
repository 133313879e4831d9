import { requestDigest } from '../../lib/digest.ts';
import { DIGEST_HEADER, GET_CALLER_IDENTITY_BODY, type RequestDetail } from '../../lib/contract.ts';
import { reflect } from '../../lib/reflect.ts';
import { parseSigV4Authorization } from './authorization.ts';
import { ProofRefusedError, StsUnavailableError, type CallerIdentity } from './ports.ts';
import { RequestRejectedError, StepFailedError } from './steps.ts';

export interface ProofPolicy {
  /** The controller's own STS endpoint; the proof must be signed for its host. */
  stsEndpoint: URL;
  /** The controller's region: a proof scoped to another region is refused before STS sees it. */
  region: string;
  freshnessSeconds: number;
  accountId: string;
  allowedRoles: string[];
}

const ASSUMED_ROLE_ARN = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([^/]+)\/([^/]+)$/;
/**
 * A signer's clock may run a little ahead of ours, but not much: requests are ordered by their
 * issuedAt, so a node far ahead would make every other node's `up` look stale.
 */
const FUTURE_SKEW_MS = 10_000;
/** X-Amz-Date has whole seconds; the agent signs with issuedAt as the signing date. */
const ISSUED_AT_TOLERANCE_MS = 1000;

const reject = (reason: string): never => {
  throw new RequestRejectedError('verify', reason);
};

/**
 * Checks the proof offline (digest, signed headers, host, freshness), then asks STS who signed
 * it. Returns the caller's ARN: `assumed-role/<allowed role>/<the request's instance id>`.
 */
export async function verifyProof(
  request: RequestDetail,
  policy: ProofPolicy,
  identity: CallerIdentity,
  now: Date,
): Promise<string> {
  checkProofOffline(request, policy, now);
  return await confirmCaller(request, policy, identity);
}

/** What can be checked without asking anyone: a proof that fails here never reaches STS. */
export function checkProofOffline(request: RequestDetail, policy: ProofPolicy, now: Date): void {
  const { headers, body } = request.proof;
  if (body !== GET_CALLER_IDENTITY_BODY) reject('proof body must be exactly a GetCallerIdentity request');
  const authorization = parseSigV4Authorization(headers.authorization ?? reject('proof has no authorization header'));
  if (typeof authorization === 'string') return reject(`proof ${authorization}`);
  for (const required of ['host', 'x-amz-date', DIGEST_HEADER]) {
    if (!authorization.signedHeaders.includes(required)) reject(`proof does not sign the ${required} header`);
  }
  if (authorization.service !== 'sts') reject('proof is not signed for the sts service');
  if (authorization.region !== policy.region) {
    reject(`proof is signed for region ${reflect(authorization.region, 32)}; this controller is in ${policy.region}`);
  }
  if (headers[DIGEST_HEADER] !== requestDigest(request)) {
    reject('proof digest does not match the request (the request was altered or the proof belongs to another request)');
  }
  if (headers.host !== policy.stsEndpoint.host) {
    reject(`proof is signed for host ${reflect(headers.host)}; this controller accepts only ${policy.stsEndpoint.host}`);
  }
  const signedAt = parseAmzDate(headers['x-amz-date'] ?? '');
  if (signedAt === null) reject('proof has no valid X-Amz-Date');
  if (headers['x-amz-date']?.slice(0, 8) !== authorization.scopeDate) reject('proof credential scope date is not its X-Amz-Date');
  const ageMs = now.getTime() - (signedAt as Date).getTime();
  if (ageMs > policy.freshnessSeconds * 1000) {
    reject(`proof is ${Math.round(ageMs / 1000)} s old; the limit is ${policy.freshnessSeconds} s (replayed or delayed request)`);
  }
  if (ageMs < -FUTURE_SKEW_MS) reject(`proof is dated ${Math.round(-ageMs / 1000)} s in the future (check the node's clock)`);
  // issuedAt orders requests, so it must be the signed time, not a free-standing claim.
  if (Math.abs(Date.parse(request.issuedAt) - (signedAt as Date).getTime()) > ISSUED_AT_TOLERANCE_MS) {
    reject(`issuedAt ${request.issuedAt} is not the time the proof was signed (${(signedAt as Date).toISOString()})`);
  }
}

/** Asks STS who signed the proof; the signer must be an allowed role's session named after the instance. */
export async function confirmCaller(request: RequestDetail, policy: ProofPolicy, identity: CallerIdentity): Promise<string> {
  let arn: string;
  try {
    arn = await identity.callerArn(request.proof);
  } catch (error) {
    if (error instanceof ProofRefusedError) throw new RequestRejectedError('verify', error.message, { cause: error });
    if (error instanceof StsUnavailableError) throw new StepFailedError('verify', error.message, { cause: error });
    throw error;
  }
  const match = ASSUMED_ROLE_ARN.exec(arn);
  if (match === null) return reject(`proof was signed by ${reflect(arn, 200)}, not by an instance role session`);
  const [, account, role, session] = match;
  if (account !== policy.accountId) reject(`proof was signed in account ${account}, not ${policy.accountId}`);
  if (!policy.allowedRoles.includes(role ?? '')) {
    reject(`proof was signed by role ${role}, which is not allowed for this cluster (allowed: ${policy.allowedRoles.join(', ')})`);
  }
  if (session !== request.instanceId) {
    reject(`proof was signed by session ${session}, not by instance ${request.instanceId}`);
  }
  return arn;
}

/** Parses SigV4's `YYYYMMDDTHHMMSSZ`. */
export function parseAmzDate(value: string): Date | null {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return null;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second));
  return Number.isNaN(date.getTime()) ? null : date;
}
