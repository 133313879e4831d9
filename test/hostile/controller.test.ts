import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../lib/cluster-config.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';
import { signProof } from '../../lib/proof.ts';
import { addressDocumentFromScript, SCRIPT_PATH } from '../../infra/ssm-document.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { addInstance, createMemoryHarness, MEMORY_STS_ENDPOINT, type MemoryHarness } from '../kit/memory-harness.ts';
import { counted, printCounts, type Category } from './catalog.ts';

// Hostile events against the real switchover handler on the in-memory ports (the contract suite
// in test/contract/ holds them to the AWS adapters), one world for the whole file. Every case:
// its own refusal reason, no route write, no SSM command, and exactly one outcome record under
// its request id (or none, where the event has no usable id).

let harness: MemoryHarness;
/** How far the controller's clock runs ahead of the machine's: a replay after its freshness needs no wait. */
let clockAhead = 0;
let otherRole: WorldInstance;
let stranger: WorldInstance;
let held: { detail: RequestDetail; event: Record<string, unknown> };

const WRITE_CALLS = new Set(['routes:pointVipRoute', 'ssm:send']);
const writes = (): string[] => harness.aws.calls.filter((call) => WRITE_CALLS.has(call));

beforeAll(async () => {
  harness = createMemoryHarness({ now: () => new Date(Date.now() + clockAhead) });
  const { world } = harness;
  const node1 = world.instances[0] as WorldInstance;
  // A role that is not in allowedRoles, and an untagged instance in the cluster's VPC.
  otherRole = { ...node1, credentials: harness.aws.instanceCredentials('hostile-other-role', node1.instanceId) };
  stranger = { ...addInstance(world, world.vpcId, {}), name: 'stranger' };
  // The ordering cases need a holder: node1 is brought up once, before any case runs.
  const detail = await signedDetail(world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
  const event = envelope(detail, world);
  expect((await harness.invoke(event)).outcome).toBe('applied');
  // The counter sees the controller's writes: the setup's route write and SSM command.
  expect(writes()).toEqual(expect.arrayContaining([...WRITE_CALLS]));
  held = { detail, event };
});
afterAll(() => {
  printCounts('controller');
});

type Reason = string | RegExp;
interface EventCase {
  category: Category;
  name: string;
  kind: 'event';
  build: () => Promise<unknown>;
  step: string | null;
  reason: Reason | ((detail: Ctx) => Reason);
  /**
   * 'one': exactly one record under the case's request id, holding this refusal; 'duplicate':
   * the one record of the id is unchanged and answers; 'kept': the refusal of a replay whose
   * proof can no longer be verified leaves the earlier, verified record as it was.
   */
  ledger: 'one' | 'duplicate' | 'kept' | { none: string };
}
interface LocalCase {
  category: Category;
  name: string;
  kind: 'config' | 'script' | 'document';
  run: () => string;
  reason: Reason;
  ledger: { none: string };
}
type Case = EventCase | LocalCase;
interface Ctx {
  node1: WorldInstance;
  node2: WorldInstance;
  host: string;
  cluster: string;
  region: string;
}

const ctx = (): Ctx => ({
  node1: harness.world.instances[0] as WorldInstance,
  node2: harness.world.instances[1] as WorldInstance,
  host: new URL(MEMORY_STS_ENDPOINT).host,
  cluster: harness.world.config.clusters[0]?.name ?? '',
  region: harness.world.region,
});
const sign = (instance: WorldInstance, options: Partial<Parameters<typeof signedDetail>[2]> = {}) =>
  signedDetail(harness.world, instance, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, ...options });
const wrap = (detail: unknown): Record<string, unknown> => envelope(detail, harness.world);
async function withHeaders(change: (headers: Record<string, string>) => Record<string, unknown>, detail?: RequestDetail) {
  const signed = detail ?? (await sign(ctx().node1));
  return wrap({ ...signed, proof: { ...signed.proof, headers: change({ ...signed.proof.headers }) } });
}
const withAuthorization = (change: (authorization: string) => string) =>
  withHeaders((headers) => ({ ...headers, authorization: change(headers.authorization ?? '') }));
async function withDetail(change: Record<string, unknown>) {
  return wrap({ ...(await sign(ctx().node1)), ...change });
}

const NOT_ISO = 'the event has no request id the ledger could key it by';
const DIGEST_MISMATCH = 'proof digest does not match the request (the request was altered or the proof belongs to another request)';
const MALFORMED_VIP = 'must be a dotted IPv4 address';
const scriptPath = fileURLToPath(SCRIPT_PATH);
function script(...args: string[]): string {
  const result = spawnSync('sh', [scriptPath, ...args], { encoding: 'utf8' });
  return `${result.status}: ${result.stderr.trim()}`;
}
function configError(change: Record<string, unknown>): string {
  try {
    parseControllerConfig({ ...harness.world.config, clusters: [{ ...harness.world.config.clusters[0], ...change }] });
    return 'accepted';
  } catch (error) {
    return (error as Error).message;
  }
}
/** The document parameters the SSM cases send: Python checks them all in one process. */
const DOCUMENT_VALUES: ReadonlyArray<readonly ['Vip' | 'Interface', string]> = [
  ['Vip', '198.19.0.50\n'],
  ['Interface', 'eth0\n'],
  ['Vip', "1.2.3.4'; reboot; '"],
];
let documentVerdicts: Map<string, boolean> | undefined;
function documentAccepts(parameter: 'Vip' | 'Interface', value: string): string {
  const key = JSON.stringify([parameter, value]);
  if (documentVerdicts === undefined) {
    const document = addressDocumentFromScript() as { parameters: Record<string, { allowedPattern?: string }> };
    const checks = DOCUMENT_VALUES.map(([name, checked]) => [document.parameters[name]?.allowedPattern ?? '', checked]);
    // Python's re: `$` matches before a final newline there, as in Java's.
    const check = 'import json,re,sys; print(json.dumps([bool(re.search(p, v)) for p, v in json.load(sys.stdin)]))';
    const result = spawnSync('python3', ['-c', check], { input: JSON.stringify(checks), encoding: 'utf8' });
    const verdicts = JSON.parse(result.stdout) as boolean[];
    documentVerdicts = new Map(DOCUMENT_VALUES.map((pair, index) => [JSON.stringify(pair), verdicts[index] === true]));
  }
  const accepted = documentVerdicts.get(key);
  if (accepted === undefined) throw new Error(`${key}: add it to DOCUMENT_VALUES`);
  return `${parameter} ${JSON.stringify(value)}: ${accepted ? 'accepted' : 'refused'}`;
}

const printable = 'pgpool-vip-address: arguments must be printable characters only (no line breaks, tabs or control characters)';

const cases: Case[] = counted<Case>([
  // --- proof forgery -------------------------------------------------------------------------
  { category: 'proof forgery', name: 'no authorization header', kind: 'event', build: () => withHeaders(({ authorization: _, ...rest }) => rest), step: 'verify', reason: 'proof has no authorization header', ledger: 'one' },
  { category: 'proof forgery', name: 'authorization is not SigV4', kind: 'event', build: () => withAuthorization(() => 'forged'), step: 'verify', reason: 'proof authorization is not AWS4-HMAC-SHA256 (starts "forged")', ledger: 'one' },
  { category: 'proof forgery', name: 'two SignedHeaders=', kind: 'event', build: () => withAuthorization((a) => `${a}, SignedHeaders=host`), step: 'verify', reason: 'proof authorization has more than one SignedHeaders= component', ledger: 'one' },
  { category: 'proof forgery', name: 'two Credential=', kind: 'event', build: () => withAuthorization((a) => `${a}, Credential=AKIAOTHERKEY00000000/20261130/us-east-1/sts/aws4_request`), step: 'verify', reason: 'proof authorization has more than one Credential= component', ledger: 'one' },
  { category: 'proof forgery', name: 'two Signature=', kind: 'event', build: () => withAuthorization((a) => `${a}, Signature=${'0'.repeat(64)}`), step: 'verify', reason: 'proof authorization has more than one Signature= component', ledger: 'one' },
  { category: 'proof forgery', name: 'an unknown authorization component', kind: 'event', build: () => withAuthorization((a) => `${a}, Policy=any`), step: 'verify', reason: 'proof authorization has an unknown component "Policy"', ledger: 'one' },
  { category: 'proof forgery', name: 'no SignedHeaders=', kind: 'event', build: () => withAuthorization((a) => a.replace(/, SignedHeaders=[^,]*/, '')), step: 'verify', reason: 'proof authorization has no SignedHeaders= component', ledger: 'one' },
  { category: 'proof forgery', name: 'the digest header not signed', kind: 'event', build: () => withAuthorization((a) => a.replace(';x-pgpool-vip-digest', '')), step: 'verify', reason: 'proof does not sign the x-pgpool-vip-digest header', ledger: 'one' },
  { category: 'proof forgery', name: 'the host header not signed', kind: 'event', build: () => withAuthorization((a) => a.replace('SignedHeaders=content-type;host;', 'SignedHeaders=content-type;')), step: 'verify', reason: 'proof does not sign the host header', ledger: 'one' },
  { category: 'proof forgery', name: 'scoped to another service', kind: 'event', build: () => withAuthorization((a) => a.replace('/sts/aws4_request', '/ec2/aws4_request')), step: 'verify', reason: 'proof is not signed for the sts service', ledger: 'one' },
  { category: 'proof forgery', name: 'scope region edited', kind: 'event', build: () => withAuthorization((a) => a.replace('/us-east-1/', '/eu-west-1/')), step: 'verify', reason: 'proof is signed for region "eu-west-1"; this controller is in us-east-1', ledger: 'one' },
  {
    category: 'proof forgery',
    name: 'truly signed for another region',
    kind: 'event',
    build: async () => {
      const { proof: _, ...unsigned } = await sign(ctx().node1);
      const proof = await signProof({ detail: unsigned, region: 'eu-west-1', credentials: ctx().node1.credentials, stsEndpoint: new URL(MEMORY_STS_ENDPOINT), signingDate: new Date(unsigned.issuedAt) });
      return wrap({ ...unsigned, proof });
    },
    step: 'verify',
    reason: 'proof is signed for region "eu-west-1"; this controller is in us-east-1',
    ledger: 'one',
  },
  { category: 'proof forgery', name: 'scope region with markup', kind: 'event', build: () => withAuthorization((a) => a.replace('/us-east-1/', '/<b>/')), step: 'verify', reason: 'proof authorization Credential= has no valid region ("\\u003cb\\u003e")', ledger: 'one' },
  { category: 'proof forgery', name: 'signature not hex', kind: 'event', build: () => withAuthorization((a) => a.replace(/Signature=\w+/, `Signature=${'z'.repeat(64)}`)), step: 'verify', reason: 'proof authorization Signature= is not 64 hex digits', ledger: 'one' },
  { category: 'proof forgery', name: 'access key id with a slash trick', kind: 'event', build: () => withAuthorization((a) => a.replace(/Credential=\w+\//, 'Credential=a/b/')), step: 'verify', reason: 'proof authorization Credential= is not KEY/DATE/REGION/SERVICE/aws4_request', ledger: 'one' },
  { category: 'proof forgery', name: 'lower-case access key id', kind: 'event', build: () => withAuthorization((a) => a.replace(/Credential=\w+\//, 'Credential=akiaabcdefghijklmnop/')), step: 'verify', reason: 'proof authorization Credential= has no valid access key id', ledger: 'one' },
  { category: 'proof forgery', name: 'digest header altered', kind: 'event', build: () => withHeaders((h) => ({ ...h, 'x-pgpool-vip-digest': '0'.repeat(64) })), step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'proof forgery', name: 'action changed after signing', kind: 'event', build: async () => wrap({ ...(await sign(ctx().node1)), action: 'down' }), step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'proof forgery', name: 'the dry-run flag added to a signed request', kind: 'event', build: () => withDetail({ dryRun: true }), step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'proof forgery', name: 'the dry-run flag taken off a signed dry run', kind: 'event', build: async () => { const { dryRun: _, ...rest } = await sign(ctx().node1, { detail: { dryRun: true } }); return wrap(rest); }, step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'proof forgery', name: 'a dry run signed by another member for this instance id', kind: 'event', build: async () => wrap(await sign({ ...ctx().node2, instanceId: ctx().node1.instanceId, eni: ctx().node1.eni }, { detail: { dryRun: true } })), step: 'verify', reason: (c) => `proof was signed by session ${c.node2.instanceId}, not by instance ${c.node1.instanceId}`, ledger: 'one' },
  { category: 'proof forgery', name: "another member's proof with this request", kind: 'event', build: async () => wrap({ ...(await sign(ctx().node1)), proof: (await sign(ctx().node2)).proof }), step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'proof forgery', name: 'host header edited', kind: 'event', build: () => withHeaders((h) => ({ ...h, host: 'sts.attacker.example' })), step: 'verify', reason: (c) => `proof is signed for host "sts.attacker.example"; this controller accepts only ${c.host}`, ledger: 'one' },
  { category: 'proof forgery', name: 'host header with markup', kind: 'event', build: () => withHeaders((h) => ({ ...h, host: '<a href=x>' })), step: 'verify', reason: (c) => `proof is signed for host "\\u003ca href=x\\u003e"; this controller accepts only ${c.host}`, ledger: 'one' },
  { category: 'proof forgery', name: 'signed for an attacker STS endpoint', kind: 'event', build: async () => wrap(await sign(ctx().node1, { stsEndpoint: 'https://sts.attacker.example/' })), step: 'verify', reason: (c) => `proof is signed for host "sts.attacker.example"; this controller accepts only ${c.host}`, ledger: 'one' },
  { category: 'proof forgery', name: 'no X-Amz-Date', kind: 'event', build: () => withHeaders(({ 'x-amz-date': _, ...rest }) => rest), step: 'verify', reason: 'proof has no valid X-Amz-Date', ledger: 'one' },
  { category: 'proof forgery', name: 'X-Amz-Date not SigV4 format', kind: 'event', build: () => withHeaders((h) => ({ ...h, 'x-amz-date': '2026-11-30T10:00:00Z' })), step: 'verify', reason: 'proof has no valid X-Amz-Date', ledger: 'one' },
  { category: 'proof forgery', name: 'X-Amz-Date on another day than the scope', kind: 'event', build: () => withHeaders((h) => ({ ...h, 'x-amz-date': `20200101T${(h['x-amz-date'] ?? '').slice(9)}` })), step: 'verify', reason: 'proof credential scope date is not its X-Amz-Date', ledger: 'one' },
  { category: 'proof forgery', name: 'body is not GetCallerIdentity', kind: 'event', build: async () => { const d = await sign(ctx().node1); return wrap({ ...d, proof: { ...d.proof, body: 'Action=AssumeRole&Version=2011-06-15' } }); }, step: 'verify', reason: 'proof body must be exactly a GetCallerIdentity request', ledger: 'one' },
  { category: 'proof forgery', name: 'signed by another member for this instance id', kind: 'event', build: async () => wrap(await sign({ ...ctx().node2, instanceId: ctx().node1.instanceId, eni: ctx().node1.eni })), step: 'verify', reason: (c) => `proof was signed by session ${c.node2.instanceId}, not by instance ${c.node1.instanceId}`, ledger: 'one' },
  { category: 'proof forgery', name: 'signed by a role not allowed', kind: 'event', build: async () => wrap(await sign(otherRole)), step: 'verify', reason: /^proof was signed by role hostile-other-role, which is not allowed for this cluster/, ledger: 'one' },
  { category: 'proof forgery', name: 'authorization of 5000 characters', kind: 'event', build: () => withAuthorization((a) => a + ' '.repeat(5000)), step: 'parse', reason: 'malformed request: detail.proof.headers.authorization: each header is at most 4096 characters', ledger: 'one' },
  { category: 'proof forgery', name: '231 KB of repeated Credential=', kind: 'event', build: () => withAuthorization(() => `AWS4-HMAC-SHA256 ${'Credential='.repeat(21_000)}`), step: 'parse', reason: 'malformed request: detail.proof.headers.authorization: each header is at most 4096 characters', ledger: 'one' },
  { category: 'proof forgery', name: '20 extra headers', kind: 'event', build: () => withHeaders((h) => ({ ...h, ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-pad-${i}`, 'x'])) })), step: 'parse', reason: 'malformed request: detail.proof.headers: at most 16 headers', ledger: 'one' },
  { category: 'proof forgery', name: 'upper-case header name', kind: 'event', build: () => withHeaders((h) => ({ ...h, 'X-Amz-Date': h['x-amz-date'] ?? '' })), step: 'parse', reason: 'malformed request: detail.proof.headers.X-Amz-Date: header names must be 1-64 lower-case letters, digits or -', ledger: 'one' },

  // --- event shape ---------------------------------------------------------------------------
  { category: 'event shape', name: 'null event', kind: 'event', build: () => Promise.resolve(null), step: 'parse', reason: 'malformed event: (document): Expected object, received null', ledger: { none: NOT_ISO } },
  { category: 'event shape', name: 'a string event', kind: 'event', build: () => Promise.resolve('up 198.19.0.50'), step: 'parse', reason: 'malformed event: (document): Expected object, received string', ledger: { none: NOT_ISO } },
  { category: 'event shape', name: 'another source', kind: 'event', build: async () => ({ ...(await withDetail({})), source: 'pgpool.vip.controller' }), step: 'parse', reason: /^malformed event: source: Invalid literal value, expected "pgpool.vip.agent"/, ledger: 'one' },
  { category: 'event shape', name: 'another detail-type', kind: 'event', build: async () => ({ ...(await withDetail({})), 'detail-type': 'VIP Switchover Completed' }), step: 'parse', reason: /^malformed event: detail-type: Invalid literal value/, ledger: 'one' },
  { category: 'event shape', name: 'no envelope id', kind: 'event', build: async () => { const { id: _, ...rest } = await withDetail({}); return rest; }, step: 'parse', reason: 'malformed event: id: Required', ledger: 'one' },
  { category: 'event shape', name: 'envelope id of 200 characters', kind: 'event', build: async () => ({ ...(await withDetail({})), id: 'x'.repeat(200) }), step: 'parse', reason: 'malformed event: id: String must contain at most 128 character(s)', ledger: 'one' },
  { category: 'event shape', name: '20 resources', kind: 'event', build: async () => ({ ...(await withDetail({})), resources: Array.from({ length: 20 }, () => 'arn:x') }), step: 'parse', reason: 'malformed event: resources: Array must contain at most 16 element(s)', ledger: 'one' },
  { category: 'event shape', name: 'no detail', kind: 'event', build: async () => { const { detail: _, ...rest } = await withDetail({}); return rest; }, step: 'parse', reason: 'malformed request: detail: Required', ledger: { none: NOT_ISO } },
  { category: 'event shape', name: 'contract version 2', kind: 'event', build: () => withDetail({ version: 2 }), step: 'parse', reason: 'malformed request: detail.version: Invalid literal value, expected 1', ledger: 'one' },
  { category: 'event shape', name: 'action flip', kind: 'event', build: () => withDetail({ action: 'flip' }), step: 'parse', reason: 'malformed request: detail.action: must be one of up, down, not "flip"', ledger: 'one' },
  { category: 'event shape', name: 'action with markup', kind: 'event', build: () => withDetail({ action: '<svg onload=alert(1)>' }), step: 'parse', reason: 'malformed request: detail.action: must be one of up, down, not "\\u003csvg onload=alert(1)\\u003e"', ledger: 'one' },
  { category: 'event shape', name: 'cluster name with a slash', kind: 'event', build: () => withDetail({ cluster: 'main/../other' }), step: 'parse', reason: 'malformed request: detail.cluster: must be 1-63 letters, digits, _ . - starting with a letter or digit', ledger: 'one' },
  { category: 'event shape', name: 'instance id not an id', kind: 'event', build: () => withDetail({ instanceId: 'i-xyz' }), step: 'parse', reason: 'malformed request: detail.instanceId: must be an EC2 instance id (i-...)', ledger: 'one' },
  { category: 'event shape', name: 'ENI id not an id', kind: 'event', build: () => withDetail({ eni: 'eni-../x' }), step: 'parse', reason: 'malformed request: detail.eni: must be an ENI id (eni-...)', ledger: 'one' },
  { category: 'event shape', name: 'request id not a UUID', kind: 'event', build: () => withDetail({ requestId: 'request#vip#main' }), step: 'parse', reason: 'malformed request: detail.requestId: must be a UUID', ledger: { none: NOT_ISO } },
  { category: 'event shape', name: 'issuedAt not a time', kind: 'event', build: () => withDetail({ issuedAt: '<img src=x onerror=alert(1)>' }), step: 'parse', reason: 'malformed request: detail.issuedAt: must be an ISO-8601 UTC timestamp', ledger: 'one' },
  { category: 'event shape', name: 'issuedAt with an offset', kind: 'event', build: () => withDetail({ issuedAt: '2026-11-30T10:00:00+02:00' }), step: 'parse', reason: 'malformed request: detail.issuedAt: must be an ISO-8601 UTC timestamp', ledger: 'one' },
  { category: 'event shape', name: 'an unknown field', kind: 'event', build: () => withDetail({ holder: 'i-0123456789abcdef0' }), step: 'parse', reason: 'malformed request: detail: unknown field "holder"', ledger: 'one' },
  { category: 'event shape', name: 'a 10 000-character unknown field name', kind: 'event', build: () => withDetail({ [`<b>${'k'.repeat(10_000)}`]: 1 }), step: 'parse', reason: 'malformed request: detail: unknown field "\\u003cb\\u003ekkkkkkkkkkkkkkkkkkkkk"... (10003 characters)', ledger: 'one' },
  { category: 'event shape', name: 'no proof', kind: 'event', build: () => withDetail({ proof: undefined }), step: 'parse', reason: 'malformed request: detail.proof: Required', ledger: 'one' },
  { category: 'event shape', name: 'proof with an extra field', kind: 'event', build: async () => { const d = await sign(ctx().node1); return wrap({ ...d, proof: { ...d.proof, url: 'https://sts.attacker.example/' } }); }, step: 'parse', reason: 'malformed request: detail.proof: unknown field "url"', ledger: 'one' },
  { category: 'event shape', name: 'proof body of 300 characters', kind: 'event', build: async () => { const d = await sign(ctx().node1); return wrap({ ...d, proof: { ...d.proof, body: 'x'.repeat(300) } }); }, step: 'parse', reason: 'malformed request: detail.proof.body: String must contain at most 256 character(s)', ledger: 'one' },
  { category: 'event shape', name: 'header value not a string', kind: 'event', build: () => withHeaders((h) => ({ ...h, host: 42 })), step: 'parse', reason: 'malformed request: detail.proof.headers.host: Expected string, received number', ledger: 'one' },
  { category: 'event shape', name: 'detail is an array', kind: 'event', build: async () => ({ ...(await withDetail({})), detail: [] }), step: 'parse', reason: 'malformed request: detail: Expected object, received array', ledger: { none: NOT_ISO } },

  // --- VIP and route abuse -------------------------------------------------------------------
  { category: 'VIP and route abuse', name: 'a VIP the cluster does not own', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { vip: '198.19.0.99' } })), step: 'parse', reason: (c) => `VIP 198.19.0.99 is not the VIP of cluster "${c.cluster}" (198.19.0.50)`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'the IMDS address as VIP', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { vip: '169.254.169.254' } })), step: 'parse', reason: (c) => `VIP 169.254.169.254 is not the VIP of cluster "${c.cluster}" (198.19.0.50)`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'loopback as VIP', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { vip: '127.0.0.1' } })), step: 'parse', reason: (c) => `VIP 127.0.0.1 is not the VIP of cluster "${c.cluster}" (198.19.0.50)`, ledger: 'one' },
  { category: 'VIP and route abuse', name: '0.0.0.0 as VIP (a default route)', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { vip: '0.0.0.0' } })), step: 'parse', reason: (c) => `VIP 0.0.0.0 is not the VIP of cluster "${c.cluster}" (198.19.0.50)`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'a VIP with a prefix length', kind: 'event', build: () => withDetail({ vip: '198.19.0.0/16' }), step: 'parse', reason: `malformed request: detail.vip: ${MALFORMED_VIP}`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'a cluster not configured', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { cluster: 'elsewhere' } })), step: 'parse', reason: 'cluster "elsewhere" is not configured on this controller', ledger: 'one' },
  { category: 'VIP and route abuse', name: 'another interface than the cluster\'s', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { interface: 'eth1' } })), step: 'parse', reason: (c) => `interface eth1 is not the interface of cluster "${c.cluster}" (eth0)`, ledger: 'one' },
  { category: 'VIP and route abuse', name: "another member's ENI", kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { eni: ctx().node2.eni } })), step: 'validate', reason: (c) => `${c.node2.eni} is not attached to instance ${c.node1.instanceId}`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'an ENI that does not exist', kind: 'event', build: async () => wrap(await sign(ctx().node1, { detail: { eni: 'eni-0123456789abcdef0' } })), step: 'validate', reason: (c) => `eni-0123456789abcdef0 is not attached to instance ${c.node1.instanceId}`, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'an untagged instance of the VPC with an allowed role', kind: 'event', build: async () => wrap(await sign(stranger)), step: 'validate', reason: /^instance i-[0-9a-f]+ is not a member of cluster/, ledger: 'one' },
  { category: 'VIP and route abuse', name: 'config: VIP 0.0.0.0', kind: 'config', run: () => configError({ vip: '0.0.0.0' }), reason: /clusters\[0\]\.vip: 0\.0\.0\.0 is "this network" \(0\.0\.0\.0\/8\)/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'VIP and route abuse', name: 'config: VIP loopback', kind: 'config', run: () => configError({ vip: '127.0.0.53' }), reason: /clusters\[0\]\.vip: 127\.0\.0\.53 is loopback/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'VIP and route abuse', name: 'config: VIP of IMDS', kind: 'config', run: () => configError({ vip: '169.254.169.254' }), reason: /clusters\[0\]\.vip: 169\.254\.169\.254 is link-local/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'VIP and route abuse', name: 'config: multicast VIP', kind: 'config', run: () => configError({ vip: '239.1.1.1' }), reason: /clusters\[0\]\.vip: 239\.1\.1\.1 is multicast/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'VIP and route abuse', name: 'config: broadcast VIP', kind: 'config', run: () => configError({ vip: '255.255.255.255' }), reason: /clusters\[0\]\.vip: 255\.255\.255\.255 is the broadcast address/, ledger: { none: 'refused at configuration, before any request' } },
  {
    category: 'VIP and route abuse',
    name: 'config: two clusters share a member tag',
    kind: 'config',
    run: () => {
      try {
        const first = harness.world.config.clusters[0] as Record<string, unknown>;
        parseControllerConfig({ ...harness.world.config, clusters: [first, { ...first, name: 'second', vip: '198.19.0.51', memberTag: { key: 'pgpool-vip:cluster', value: first.name } }] });
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    },
    reason: /clusters\[1\]\.memberTag: pgpool-vip:cluster=\S+ is already the member tag of clusters\[0\]/,
    ledger: { none: 'refused at configuration, before any request' },
  },

  // --- SSM parameters ------------------------------------------------------------------------
  { category: 'SSM parameters', name: 'interface quoting out of the document', kind: 'event', build: () => withDetail({ interface: "eth0';reboot;'" }), step: 'parse', reason: /^malformed request: detail\.interface: must be a Linux interface name/, ledger: 'one' },
  { category: 'SSM parameters', name: 'interface with a command substitution', kind: 'event', build: () => withDetail({ interface: '$(id)' }), step: 'parse', reason: /^malformed request: detail\.interface: must be a Linux interface name/, ledger: 'one' },
  { category: 'SSM parameters', name: 'interface with a line break', kind: 'event', build: () => withDetail({ interface: 'eth0\nlo' }), step: 'parse', reason: /^malformed request: detail\.interface: must be a Linux interface name/, ledger: 'one' },
  { category: 'SSM parameters', name: 'interface of 16 characters', kind: 'event', build: () => withDetail({ interface: 'e'.repeat(16) }), step: 'parse', reason: /^malformed request: detail\.interface: must be a Linux interface name/, ledger: 'one' },
  { category: 'SSM parameters', name: 'VIP with a line break', kind: 'event', build: () => withDetail({ vip: '198.19.0.50\n' }), step: 'parse', reason: `malformed request: detail.vip: ${MALFORMED_VIP}`, ledger: 'one' },
  { category: 'SSM parameters', name: 'VIP quoting out of the document', kind: 'event', build: () => withDetail({ vip: "198.19.0.50'; reboot; '" }), step: 'parse', reason: `malformed request: detail.vip: ${MALFORMED_VIP}`, ledger: 'one' },
  { category: 'SSM parameters', name: 'config: interface with a line break', kind: 'config', run: () => configError({ interface: 'eth0\n' }), reason: /clusters\[0\]\.interface: must be a Linux interface name/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'SSM parameters', name: 'config: document name with a path', kind: 'config', run: () => configError({ ssmDocument: 'arn:aws:ssm:us-east-1::document/AWS-RunShellScript' }), reason: /clusters\[0\]\.ssmDocument: must be an SSM document name/, ledger: { none: 'refused at configuration, before any request' } },
  { category: 'SSM parameters', name: 'document: VIP followed by a newline', kind: 'document', run: () => documentAccepts('Vip', '198.19.0.50\n'), reason: 'Vip "198.19.0.50\\n": refused', ledger: { none: 'SSM refuses the parameter before any command runs' } },
  { category: 'SSM parameters', name: 'document: interface followed by a newline', kind: 'document', run: () => documentAccepts('Interface', 'eth0\n'), reason: 'Interface "eth0\\n": refused', ledger: { none: 'SSM refuses the parameter before any command runs' } },
  { category: 'SSM parameters', name: 'document: VIP breaking out of quotes', kind: 'document', run: () => documentAccepts('Vip', "1.2.3.4'; reboot; '"), reason: 'Vip "1.2.3.4\'; reboot; \'": refused', ledger: { none: 'SSM refuses the parameter before any command runs' } },
  { category: 'SSM parameters', name: 'script: VIP followed by a newline', kind: 'script', run: () => script('add', '198.19.0.50\n', 'eth0'), reason: `2: ${printable}`, ledger: { none: 'the script runs on the node, outside the request flow' } },
  { category: 'SSM parameters', name: 'script: two VIPs on two lines', kind: 'script', run: () => script('check', '198.19.0.50\n198.19.0.51', 'eth0'), reason: `2: ${printable}`, ledger: { none: 'the script runs on the node, outside the request flow' } },
  { category: 'SSM parameters', name: 'script: interface with a tab', kind: 'script', run: () => script('remove', '198.19.0.50', 'eth0\tlo'), reason: `2: ${printable}`, ledger: { none: 'the script runs on the node, outside the request flow' } },
  { category: 'SSM parameters', name: 'script: action with a carriage return', kind: 'script', run: () => script('add\r', '198.19.0.50', 'eth0'), reason: `2: ${printable}`, ledger: { none: 'the script runs on the node, outside the request flow' } },
  { category: 'SSM parameters', name: 'script: a fourth argument', kind: 'script', run: () => script('add', '198.19.0.50', 'eth0', '; reboot'), reason: '2: pgpool-vip-address: takes 3 arguments (action, VIP, interface), not 4', ledger: { none: 'the script runs on the node, outside the request flow' } },
  { category: 'SSM parameters', name: 'script: interface with a semicolon', kind: 'script', run: () => script('add', '198.19.0.50', 'eth0;id'), reason: "2: pgpool-vip-address: interface name has characters an interface cannot have: 'eth0;id'", ledger: { none: 'the script runs on the node, outside the request flow' } },

  // --- ordering ------------------------------------------------------------------------------
  { category: 'ordering', name: 'a decided request delivered again', kind: 'event', build: async () => { const e = wrap(await sign(ctx().node1)); await harness.invoke(e); return e; }, step: null, reason: 'duplicate of a decided request', ledger: 'duplicate' },
  { category: 'ordering', name: 'a decided request replayed under a new envelope id', kind: 'event', build: async () => { const d = await sign(ctx().node1); await harness.invoke(wrap(d)); return wrap(d); }, step: null, reason: 'duplicate of a decided request', ledger: 'duplicate' },
  { category: 'ordering', name: 'the first applied request replayed after its freshness', kind: 'event', build: () => { clockAhead = Math.max(clockAhead, new Date(held.detail.issuedAt).getTime() + 61_000 - Date.now()); return Promise.resolve(held.event); }, step: 'verify', reason: /^proof is \d+ s old; the limit is 60 s \(replayed or delayed request\)$/, ledger: 'kept' },
  { category: 'ordering', name: "the applied request's proof with a new request id", kind: 'event', build: () => Promise.resolve(wrap({ ...held.detail, requestId: randomUUID() })), step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
  { category: 'ordering', name: "another member's request under the applied request's id", kind: 'event', build: async () => wrap(await sign(ctx().node2, { requestId: held.detail.requestId })), step: null, reason: 'duplicate of a decided request', ledger: 'duplicate' },
  { category: 'ordering', name: 'a proof older than the freshness limit', kind: 'event', build: async () => wrap(await sign(ctx().node2, { issuedAt: new Date(Date.now() - 120_000) })), step: 'verify', reason: /^proof is 12\d s old; the limit is 60 s \(replayed or delayed request\)$/, ledger: 'one' },
  { category: 'ordering', name: 'a proof dated in the future', kind: 'event', build: async () => wrap(await sign(ctx().node2, { issuedAt: new Date(Date.now() + 120_000) })), step: 'verify', reason: /^proof is dated 1[12]\d s in the future \(check the node's clock\)$/, ledger: 'one' },
  { category: 'ordering', name: 'issuedAt later than the signing time', kind: 'event', build: async () => { const now = new Date(); return wrap(await sign(ctx().node2, { signingDate: now, issuedAt: new Date(now.getTime() + 30_000) })); }, step: 'verify', reason: /^issuedAt \S+ is not the time the proof was signed/, ledger: 'one' },
  { category: 'ordering', name: 'issuedAt earlier than the signing time (to look older)', kind: 'event', build: async () => { const now = new Date(); return wrap(await sign(ctx().node2, { signingDate: now, issuedAt: new Date(now.getTime() - 30_000) })); }, step: 'verify', reason: /^issuedAt \S+ is not the time the proof was signed/, ledger: 'one' },
  // Refused before its proof was verified: the replay is refused again, and stays one record.
  { category: 'ordering', name: 'a replay of a refused forged request', kind: 'event', build: async () => { const e = await withDetail({ action: 'down' }); await harness.invoke(e); return e; }, step: 'verify', reason: DIGEST_MISMATCH, ledger: 'one' },
]);

describe('Hostile catalog: the switchover controller (in memory)', () => {
  it.each(cases.map((c) => [`${c.category}: ${c.name}`, c] as const))('%s', async (_, c) => {
    if (c.kind !== 'event') {
      const result = c.run();
      if (typeof c.reason === 'string') expect(result).toBe(c.reason);
      else expect(result).toMatch(c.reason);
      expect(c.ledger.none).not.toBe('');
      return;
    }
    clockAhead = 0;
    const event = await c.build();
    const routesBefore = await harness.routeTargets();
    const writesBefore = writes().length;

    const result = await harness.invoke(event);

    const reason = typeof c.reason === 'function' ? c.reason(ctx()) : c.reason;
    if (c.ledger === 'duplicate') {
      // A delivery of an id already decided: answered from the ledger, nothing redone.
      expect(result.duplicate).toBe(true);
      expect((await harness.request(result.requestId ?? ''))?.status).toBe(result.outcome);
      expect(reason).toBe('duplicate of a decided request');
    } else {
      expect(result).toMatchObject({ outcome: 'rejected', failedStep: c.step });
      if (typeof reason === 'string') expect(result.reason).toBe(reason);
      else expect(result.reason).toMatch(reason);
    }
    expect(writes().length - writesBefore).toBe(0);
    expect(await harness.routeTargets()).toEqual(routesBefore);
    if (c.ledger === 'one') {
      expect(result.requestId).not.toBeNull();
      const record = await harness.request(result.requestId ?? '');
      expect(record).toMatchObject({ status: result.outcome, reason: result.reason, failedStep: result.failedStep });
    } else if (c.ledger === 'kept') {
      expect(await harness.request(result.requestId ?? '')).toMatchObject({ status: 'applied', digest: requestDigest(held.detail) });
    } else if (c.ledger !== 'duplicate') {
      expect(result.requestId).toBeNull();
      expect(c.ledger.none).not.toBe('');
    }
  }, 90_000);
});
