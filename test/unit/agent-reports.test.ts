import { describe, expect, it } from 'vitest';
import { callerResult, clockResult } from '../../agent/doctor.ts';
import { buildSignedRequest } from '../../agent/request.ts';
import { routeLines } from '../../agent/status.ts';
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
    const lines = routeLines(tables, destination, undefined, IDENTITY.eni);
    // Assess
    expect(lines).toEqual([
      `route rtb-0000000000000000a: ${destination} -> ${IDENTITY.eni} (this node), active`,
      `route rtb-0000000000000000b: ${destination} -> eni-00000000000000001 i-00000000000000001, blackhole`,
    ]);
  });

  it('names configured tables that lack the route, and says so when none has it', () => {
    expect(routeLines([], destination, ['rtb-0000000000000000c'], undefined)).toEqual([`route rtb-0000000000000000c: no route for ${destination}`]);
    expect(routeLines([], destination, undefined, undefined)).toEqual([`route: no route table has ${destination}`]);
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
