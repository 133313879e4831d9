import { describe, expect, it } from 'vitest';
import { parseControllerConfig, type ClusterConfig } from '../../lib/cluster-config.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import type { Member } from '../../functions/core/model.ts';
import type { VipRoute } from '../../functions/core/model.ts';
import { findDrift, healDecision, type HolderFacts } from '../../functions/core/drift.ts';

const TABLE_A = 'rtb-0a1b2c3d4e5f60718';
const TABLE_B = 'rtb-0f1e2d3c4b5a69788';
const STRAY = 'rtb-0123456789abcdef0';
const HOLDER = 'i-0a632a8349b70135';
const HOLDER_ENI = 'eni-0f1e2d3c4b5a6978';
const OTHER_ENI = 'eni-0aaaaaaaaaaaaaaa';

function cluster(overrides: Record<string, unknown> = {}): ClusterConfig {
  const config = parseControllerConfig({
    clusters: [{ name: 'main', vip: '198.19.0.50', routeTables: [TABLE_A, TABLE_B], allowedRoles: ['node'], ...overrides }],
  });
  const [first] = config.clusters;
  if (first === undefined) throw new Error('no cluster');
  return first;
}

function vipRecord(overrides: Partial<VipRecord> = {}): VipRecord {
  return {
    pk: 'vip#main',
    cluster: 'main',
    vip: '198.19.0.50',
    holderInstanceId: HOLDER,
    holderEni: HOLDER_ENI,
    upIssuedAt: '2026-11-25T10:00:00.000Z',
    upRequestId: '5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b',
    released: false,
    releasedAt: null,
    version: 3,
    updatedAt: '2026-11-25T10:00:01.000Z',
    ...overrides,
  };
}

function route(routeTableId: string, target: string | null, state: VipRoute['state'] = target === null ? null : 'active'): VipRoute {
  return { routeTableId, vpcId: 'vpc-0123456789abcdef0', target, state };
}

function holder(overrides: Partial<Member> = {}, vipOnInterface: HolderFacts['vipOnInterface'] = 'not-checked'): HolderFacts {
  return {
    instance: {
      instanceId: HOLDER,
      state: 'running',
      vpcId: 'vpc-0123456789abcdef0',
      tags: { 'pgpool-vip:cluster': 'main' },
      interfaces: [{ eni: HOLDER_ENI, deviceIndex: 0, sourceDestCheck: false, attached: true }],
      ...overrides,
    },
    vipOnInterface,
  };
}

const healthyRoutes = [route(TABLE_A, HOLDER_ENI), route(TABLE_B, HOLDER_ENI)];

describe('Function: findDrift', () => {
  it('finds nothing when every table routes to the running holder', () => {
    // Act
    const drifts = findDrift(cluster(), vipRecord(), healthyRoutes, holder());
    // Assess
    expect(drifts).toEqual([]);
  });

  it('reports a configured table without the route', () => {
    const drifts = findDrift(cluster(), vipRecord(), [route(TABLE_A, HOLDER_ENI), route(TABLE_B, null)], holder());

    expect(drifts).toEqual([
      { kind: 'route-missing', routeTableId: TABLE_B, expected: HOLDER_ENI, found: null, reason: `${TABLE_B} has no route for 198.19.0.50/32` },
    ]);
  });

  it('reports a blackhole route even when it names the holder', () => {
    const drifts = findDrift(cluster(), vipRecord(), [route(TABLE_A, HOLDER_ENI, 'blackhole'), route(TABLE_B, HOLDER_ENI)], holder());

    expect(drifts.map((drift) => [drift.kind, drift.routeTableId, drift.found])).toEqual([['route-blackhole', TABLE_A, HOLDER_ENI]]);
  });

  it('reports a route that points away from the holder', () => {
    const drifts = findDrift(cluster(), vipRecord(), [route(TABLE_A, OTHER_ENI), route(TABLE_B, HOLDER_ENI)], holder());

    expect(drifts).toEqual([expect.objectContaining({ kind: 'route-elsewhere', routeTableId: TABLE_A, expected: HOLDER_ENI, found: OTHER_ENI })]);
  });

  it('reports a VIP route in a table of the VPC that is not configured', () => {
    const drifts = findDrift(cluster(), vipRecord(), [...healthyRoutes, route(STRAY, OTHER_ENI)], holder());

    expect(drifts).toEqual([expect.objectContaining({ kind: 'table-not-in-config', routeTableId: STRAY, expected: null, found: OTHER_ENI })]);
  });

  it('reports a holder that is not running, and one that EC2 no longer knows', () => {
    const stopped = findDrift(cluster(), vipRecord(), healthyRoutes, holder({ state: 'stopped' }));
    const gone = findDrift(cluster(), vipRecord(), healthyRoutes, { instance: null, vipOnInterface: 'not-checked' });

    expect(stopped).toEqual([expect.objectContaining({ kind: 'holder-not-running', routeTableId: null, expected: 'running', found: 'stopped' })]);
    expect(gone).toEqual([expect.objectContaining({ kind: 'holder-not-running', found: 'absent' })]);
  });

  it("reports the holder's ENI detached from it", () => {
    const drifts = findDrift(cluster(), vipRecord(), healthyRoutes, holder({ interfaces: [{ eni: OTHER_ENI, deviceIndex: 0, sourceDestCheck: false, attached: true }] }));

    expect(drifts).toEqual([expect.objectContaining({ kind: 'holder-eni-detached', expected: HOLDER_ENI, found: OTHER_ENI })]);
  });

  it('reports the VIP absent from the holder only when the interface was checked', () => {
    const absent = findDrift(cluster(), vipRecord(), healthyRoutes, holder({}, 'absent'));
    const unknown = findDrift(cluster(), vipRecord(), healthyRoutes, holder({}, 'unknown'));

    expect(absent.map((drift) => drift.kind)).toEqual(['vip-not-on-interface']);
    expect(unknown).toEqual([]);
  });

  it('reports a cluster without a recorded holder, and stray routes still', () => {
    const drifts = findDrift(cluster(), null, [route(TABLE_A, null), route(TABLE_B, null), route(STRAY, OTHER_ENI)], null);

    expect(drifts.map((drift) => drift.kind)).toEqual(['no-holder-recorded', 'table-not-in-config']);
  });

  it("reports a released VIP without judging the old holder's state", () => {
    const drifts = findDrift(cluster(), vipRecord({ released: true, releasedAt: '2026-11-25T10:05:00.000Z' }), healthyRoutes, holder({ state: 'stopped' }));

    expect(drifts).toEqual([expect.objectContaining({ kind: 'holder-released', found: `released by ${HOLDER} at 2026-11-25T10:05:00.000Z` })]);
  });
});

describe('Function: healDecision', () => {
  const elsewhere = findDrift(cluster(), vipRecord(), [route(TABLE_A, OTHER_ENI), route(TABLE_B, HOLDER_ENI)], holder());

  it('heals to the holder ENI when the cluster opted in and the holder is running', () => {
    expect(healDecision(cluster({ heal: true }), vipRecord(), elsewhere)).toEqual({ heal: true, eni: HOLDER_ENI });
  });

  it('never heals when the cluster did not opt in', () => {
    expect(healDecision(cluster(), vipRecord(), elsewhere)).toEqual({ heal: false, why: 'heal is off for this cluster' });
  });

  it('never heals to a holder that is not running or has released the VIP', () => {
    const stopped = findDrift(cluster(), vipRecord(), [route(TABLE_A, OTHER_ENI)], holder({ state: 'stopped' }));

    expect(healDecision(cluster({ heal: true }), vipRecord(), stopped)).toEqual({ heal: false, why: `holder ${HOLDER} is stopped` });
    expect(healDecision(cluster({ heal: true }), vipRecord({ released: true }), [])).toMatchObject({ heal: false });
    expect(healDecision(cluster({ heal: true }), null, [])).toMatchObject({ heal: false, why: 'no holder recorded' });
  });
});
