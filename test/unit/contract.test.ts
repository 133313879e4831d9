import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { RequestDetailSchema, type UnsignedRequestDetail } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';

const unsigned: UnsignedRequestDetail = {
  version: 1,
  action: 'up',
  cluster: 'demo',
  vip: '198.19.0.50',
  instanceId: 'i-0a632a8349b701357',
  interface: 'eth0',
  eni: 'eni-0f1e2d3c4b5a69788',
  requestId: '5b0c8f6e-3f5a-4c1e-9d2b-7a6e5d4c3b2a',
  issuedAt: '2026-11-25T10:00:00.000Z',
};
const incarnation = { bootId: '0f1e2d3c-4b5a-4968-8776-655443322110', watchdog: '4242@123456', escalation: '4300@130000' };
const proof = { headers: { host: 'sts.us-east-1.amazonaws.com' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' };

describe('Function: canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: true, e: null }], c: 'x' }, z: undefined })).toBe(
      '{"a":{"c":"x","d":[2,{"e":null,"f":true}]},"b":1}',
    );
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow('non-finite number');
    expect(() => canonicalJson({ f: () => 1 })).toThrow('no form for a function');
  });
});

describe('Function: requestDigest', () => {
  it('does not depend on field order or on the proof', () => {
    const reordered = Object.fromEntries(Object.entries(unsigned).reverse()) as UnsignedRequestDetail;

    expect(requestDigest(reordered)).toBe(requestDigest(unsigned));
    expect(requestDigest({ ...unsigned, proof })).toBe(requestDigest(unsigned));
  });

  it('changes when any signed field changes', () => {
    const digest = requestDigest(unsigned);
    for (const [field, value] of Object.entries({ action: 'down', vip: '198.19.0.51', eni: 'eni-0f1e2d3c4b5a69789', issuedAt: '2026-11-25T10:00:01.000Z' })) {
      expect(requestDigest({ ...unsigned, [field]: value })).not.toBe(digest);
    }
    const elected = requestDigest({ ...unsigned, incarnation });
    expect(elected).not.toBe(digest);
    expect(requestDigest({ ...unsigned, incarnation: { ...incarnation, escalation: null } })).not.toBe(elected);
    expect(requestDigest({ ...unsigned, incarnation: { ...incarnation, watchdog: '4242@123457' } })).not.toBe(elected);
  });

  it('binds the dry-run flag, and leaves the digest of a request without it as it was', () => {
    // The digest of `unsigned` as agents without the flag compute it (fixed: a change here breaks them).
    expect(requestDigest(unsigned)).toBe('db852c60c53c537b8732607fdf9c6cb7dbac48bd11a613534a81c0ced9f09497');
    expect(requestDigest({ ...unsigned, dryRun: true })).not.toBe(requestDigest(unsigned));
    expect(requestDigest({ ...unsigned, dryRun: undefined })).toBe(requestDigest(unsigned));
  });

  it("keeps an older agent's digest: a request without the optional fields hashes as before they existed", () => {
    expect(requestDigest(unsigned)).toBe('db852c60c53c537b8732607fdf9c6cb7dbac48bd11a613534a81c0ced9f09497');
    expect(requestDigest({ ...unsigned, localAddress: undefined })).toBe(requestDigest(unsigned));
  });

  it('covers the local fast path claim', () => {
    expect(requestDigest({ ...unsigned, localAddress: true })).not.toBe(requestDigest(unsigned));
  });

  it('is the SHA-256 of the canonical JSON', () => {
    expect(requestDigest(unsigned)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('Function: RequestDetailSchema', () => {
  it('accepts a well-formed request', () => {
    expect(RequestDetailSchema.parse({ ...unsigned, proof })).toEqual({ ...unsigned, proof });
  });

  it.each([
    ['vip', '198.19.0.256', 'vip'],
    ['vip', '20.0.0.50/32', 'vip'],
    ['action', 'toggle', 'action'],
    ['interface', 'eth0; reboot', 'interface'],
    ['interface', 'eth0:1', 'interface'],
    ['instanceId', 'i-nothex', 'instanceId'],
    ['eni', 'eni-', 'eni'],
    ['requestId', 'not-a-uuid', 'requestId'],
    ['issuedAt', 'yesterday', 'issuedAt'],
    ['version', 2, 'version'],
  ])('rejects %s = %j naming the field', (field, value, path) => {
    const parsed = RequestDetailSchema.safeParse({ ...unsigned, proof, [field]: value });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual([path]);
  });

  it('accepts a request with the incarnation of the pgpool that runs the agent, and one without (older agents)', () => {
    expect(RequestDetailSchema.parse({ ...unsigned, incarnation, proof })).toEqual({ ...unsigned, incarnation, proof });
    expect(RequestDetailSchema.parse({ ...unsigned, incarnation: { ...incarnation, escalation: null }, proof }).incarnation?.escalation).toBeNull();
    expect(RequestDetailSchema.parse({ ...unsigned, proof }).incarnation).toBeUndefined();
  });

  it.each([
    [{ ...incarnation, bootId: 'not-a-boot-id' }, 'bootId'],
    [{ ...incarnation, bootId: '0F1E2D3C-4B5A-4968-8776-655443322110' }, 'bootId'],
    [{ ...incarnation, watchdog: '4242' }, 'watchdog'],
    [{ ...incarnation, watchdog: '0@1' }, 'watchdog'],
    [{ ...incarnation, watchdog: `4242@${'9'.repeat(21)}` }, 'watchdog'],
    [{ ...incarnation, escalation: '4300@13 0000' }, 'escalation'],
    [{ bootId: incarnation.bootId, watchdog: incarnation.watchdog }, 'escalation'],
    [{ ...incarnation, cmdline: '/usr/sbin/pgpool -n' }, null],
  ])('rejects the incarnation %j naming the field', (value, field) => {
    const parsed = RequestDetailSchema.safeParse({ ...unsigned, incarnation: value, proof });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(field === null ? ['incarnation'] : ['incarnation', field]);
  });

  it('accepts the dry-run flag only as true', () => {
    expect(RequestDetailSchema.parse({ ...unsigned, dryRun: true, proof }).dryRun).toBe(true);
    expect(RequestDetailSchema.parse({ ...unsigned, proof }).dryRun).toBeUndefined();
    for (const value of [false, 'true', 1]) {
      const parsed = RequestDetailSchema.safeParse({ ...unsigned, dryRun: value, proof });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual(['dryRun']);
    }
  });

  it('accepts localAddress true on an up, and refuses it on a down or with any other value', () => {
    expect(RequestDetailSchema.parse({ ...unsigned, localAddress: true, proof }).localAddress).toBe(true);
    const onDown = RequestDetailSchema.safeParse({ ...unsigned, action: 'down', localAddress: true, proof });
    expect(onDown.success).toBe(false);
    expect(onDown.error?.issues[0]).toMatchObject({ path: ['localAddress'], message: 'is only for an up that is no dry run: nothing else adds the VIP' });
    expect(RequestDetailSchema.safeParse({ ...unsigned, dryRun: true, localAddress: true, proof }).error?.issues[0]?.path).toEqual(['localAddress']);
    expect(RequestDetailSchema.safeParse({ ...unsigned, localAddress: false, proof }).error?.issues[0]?.path).toEqual(['localAddress']);
  });

  it('rejects unknown fields, so nothing unsigned can ride along', () => {
    const parsed = RequestDetailSchema.safeParse({ ...unsigned, proof, routeTable: 'rtb-0123456789abcdef0' });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.code).toBe('unrecognized_keys');
  });
});
