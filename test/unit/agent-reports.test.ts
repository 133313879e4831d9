import { describe, expect, it } from 'vitest';
import { callerResult, clockResult, nodeResult, sourceDestResult } from '../../agent/doctor.ts';
import { buildSignedRequest } from '../../agent/request.ts';
import { disagreements, routeLines, routeViews, type StatusFacts } from '../../agent/status.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import { RequestDetailSchema } from '../../lib/contract.ts';
import { requestDigest } from '../../lib/digest.ts';
import { DIGEST_HEADER } from '../../lib/proof.ts';

const IDENTITY = { instanceId: 'i-0a632a8349b701357', region: 'eu-west-1', mac: '0a:00:c6:12:01:0a', eni: 'eni-0f1e2d3c4b5a69788' };

describe('Function: routeLines', () => {
  const destination = '198.19.0.50/32';

  it('names the target of the VIP route per table and marks this node', () => {
    // Prepare
    const tables = [
      { RouteTableId: 'rtb-0000000000000000a', Routes: [{ DestinationCidrBlock: destination, NetworkInterfaceId: IDENTITY.eni, State: 'active' as const }] },
      { RouteTableId: 'rtb-0000000000000000b', Routes: [{ DestinationCidrBlock: destination, NetworkInterfaceId: 'eni-00000000000000001', InstanceId: 'i-00000000000000001', State: 'blackhole' as const }] },
    ];
    // Act
    const lines = routeLines(routeViews(tables, destination, undefined), destination, IDENTITY.eni);
    // Assess
    expect(lines).toEqual([
      `route rtb-0000000000000000a: ${destination} -> ${IDENTITY.eni} (this node), active`,
      `route rtb-0000000000000000b: ${destination} -> eni-00000000000000001 i-00000000000000001, blackhole`,
    ]);
  });

  it('names configured tables that lack the route, and says so when none has it', () => {
    expect(routeLines(routeViews([], destination, ['rtb-0000000000000000c']), destination, undefined)).toEqual([`route rtb-0000000000000000c: no route for ${destination}`]);
    expect(routeLines(routeViews([], destination, undefined), destination, undefined)).toEqual([`route: no route table has ${destination}`]);
  });
});

describe('Function: disagreements (status exit code)', () => {
  const OTHER = { instanceId: 'i-0b1c2d3e4f5a69788', eni: 'eni-0aaaaaaaaaaaaaaaa' };
  const holder = (instanceId: string, eni: string, released = false): VipRecord =>
    ({ holderInstanceId: instanceId, holderEni: eni, released, upIssuedAt: '2026-11-25T10:00:00.000Z', upRequestId: 'r', version: 3 }) as VipRecord;
  const route = (eni: string | undefined, state = 'active') => ({ routeTableId: 'rtb-0000000000000000a', target: eni, eni, state: eni === undefined ? undefined : state });
  const facts = (overrides: Partial<StatusFacts>): StatusFacts => ({
    self: { instanceId: IDENTITY.instanceId, eni: IDENTITY.eni },
    routes: [route(IDENTITY.eni)],
    ledger: holder(IDENTITY.instanceId, IDENTITY.eni),
    iface: 'ens5',
    onInterface: 'present',
    ...overrides,
  });

  it('finds none when the routes point at the holder and the VIP is on the holder only', () => {
    expect(disagreements(facts({}))).toEqual([]);
    // A standby: the routes point at the other node, which holds the VIP; nothing here.
    expect(disagreements(facts({ routes: [route(OTHER.eni)], ledger: holder(OTHER.instanceId, OTHER.eni), onInterface: 'absent' }))).toEqual([]);
    // After a release the route stays where it was, on purpose.
    expect(disagreements(facts({ ledger: holder(IDENTITY.instanceId, IDENTITY.eni, true), onInterface: 'absent' }))).toEqual([]);
    expect(disagreements(facts({ routes: [], ledger: null, onInterface: 'absent' }))).toEqual([]);
    expect(disagreements(facts({ onInterface: 'not checked' }))).toEqual([]);
  });

  it('names each disagreement between the ledger, the routes and the interface', () => {
    expect(disagreements(facts({ routes: [route(OTHER.eni)] }))).toEqual([
      `route rtb-0000000000000000a points at ${OTHER.eni}, the ledger's holder ${IDENTITY.instanceId} is ${IDENTITY.eni}`,
    ]);
    expect(disagreements(facts({ routes: [route(undefined)] }))).toEqual([
      `route table rtb-0000000000000000a has no route for the VIP; the ledger's holder is ${IDENTITY.instanceId} (${IDENTITY.eni})`,
    ]);
    expect(disagreements(facts({ routes: [route(IDENTITY.eni, 'blackhole')] }))).toEqual([`route rtb-0000000000000000a to ${IDENTITY.eni} is blackhole`]);
    expect(disagreements(facts({ onInterface: 'absent' }))).toEqual(['this node holds the VIP in the ledger but it is not on ens5']);
    expect(disagreements(facts({ routes: [route(OTHER.eni)], ledger: holder(OTHER.instanceId, OTHER.eni) }))).toEqual([
      `the VIP is on ens5 but the ledger's holder is ${OTHER.instanceId}`,
    ]);
    expect(disagreements(facts({ ledger: null, onInterface: 'absent' }))).toEqual([
      `route rtb-0000000000000000a points at ${IDENTITY.eni} but the ledger records no holder`,
    ]);
  });
});

describe('Function: sourceDestResult (doctor)', () => {
  it('passes a standby whose ENI still checks, and fails the holder whose ENI still checks', () => {
    const enabled = { SourceDestCheck: true };

    expect(sourceDestResult({ SourceDestCheck: false }, IDENTITY, IDENTITY.instanceId)).toEqual({ check: 'source/dest check', ok: true, text: `off on ${IDENTITY.eni}` });
    const standby = sourceDestResult(enabled, IDENTITY, 'i-0b1c2d3e4f5a69788');
    expect(standby.ok).toBe(true);
    expect(standby.text).toMatch(/^on for eni-\S+: fine on a standby, the controller turns it off at this node's first up/);
    expect(sourceDestResult(enabled, IDENTITY, undefined).ok).toBe(true);
    const holder = sourceDestResult(enabled, IDENTITY, IDENTITY.instanceId);
    expect(holder.ok).toBe(false);
    expect(holder.text).toContain('this node holds the VIP: VIP traffic is dropped until it is off');
  });
});

describe('Function: nodeResult (doctor)', () => {
  it('passes Node 22 and later and fails Node 20', () => {
    expect(nodeResult('22.23.5', '/usr/bin/node')).toEqual({ check: 'node', ok: true, text: 'Node.js v22.23.5 (/usr/bin/node)' });
    expect(nodeResult('24.1.0', '/usr/bin/node').ok).toBe(true);
    const old = nodeResult('20.20.2', '/usr/bin/node');
    expect(old.ok).toBe(false);
    expect(old.text).toContain('install Node.js 22 or later (Node 20 reached end of life on 2026-04-30');
  });
});

describe('Function: callerResult', () => {
  it('accepts the instance profile session of this instance', () => {
    const arn = `arn:aws:sts::123456789012:assumed-role/pgpool-vip-node/${IDENTITY.instanceId}`;

    expect(callerResult(arn, IDENTITY)).toEqual({ check: 'credentials', ok: true, text: `role pgpool-vip-node, session ${IDENTITY.instanceId} (${arn})` });
  });

  it('asks to fix user keys and sessions that are not this instance', () => {
    const user = callerResult('arn:aws:iam::123456789012:user/admin', IDENTITY);
    const otherSession = callerResult('arn:aws:sts::123456789012:assumed-role/pgpool-vip-node/laptop', IDENTITY);

    expect(user.ok).toBe(false);
    expect(user.text).toContain('not an instance-profile role');
    expect(otherSession.ok).toBe(false);
    expect(otherSession.text).toContain(`not this instance (${IDENTITY.instanceId})`);
  });
});

describe('Function: clockResult', () => {
  const at = Date.parse('2026-11-25T10:00:00.000Z');

  it('is OK within a few seconds of STS', () => {
    expect(clockResult('Wed, 25 Nov 2026 10:00:00 GMT', at, at + 40)).toEqual({ check: 'clock', ok: true, text: 'within 1 s of STS' });
    expect(clockResult('Wed, 25 Nov 2026 10:00:03 GMT', at, at + 40)).toEqual({ check: 'clock', ok: true, text: '3 s behind STS' });
  });

  it('asks to sync a clock far from STS, and says when STS sent no Date', () => {
    const ahead = clockResult('Wed, 25 Nov 2026 09:59:00 GMT', at, at + 40);

    expect(ahead.ok).toBe(false);
    expect(ahead.text).toMatch(/^this clock is 60 s ahead of STS: sync it/);
    expect(clockResult(undefined, at, at)).toMatchObject({ ok: false, text: 'STS answered without a Date header; cannot measure clock skew' });
  });
});

describe('Function: buildSignedRequest', () => {
  it('builds a detail that fits the contract, with the digest of the other fields signed into the proof', async () => {
    const detail = await buildSignedRequest({
      action: 'down',
      cluster: 'main',
      vip: '198.19.0.50',
      iface: 'eth0',
      identity: IDENTITY,
      credentials: { accessKeyId: 'ASIAPGPOOLVIPTEST001', secretAccessKey: 'secret', sessionToken: 'token' },
      env: {},
      issuedAt: new Date('2026-11-25T10:00:00.000Z'),
    });

    expect(RequestDetailSchema.parse(detail)).toEqual(detail);
    expect(detail).toMatchObject({ action: 'down', instanceId: IDENTITY.instanceId, eni: IDENTITY.eni, interface: 'eth0', issuedAt: '2026-11-25T10:00:00.000Z' });
    expect(detail.proof.headers[DIGEST_HEADER]).toBe(requestDigest(detail));
    expect(detail.proof.headers.host).toBe('sts.eu-west-1.amazonaws.com');
    expect(detail.proof.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIAPGPOOLVIPTEST001\/20261125\/eu-west-1\/sts\/aws4_request, SignedHeaders=[^ ]*x-pgpool-vip-digest/);
  });
});
