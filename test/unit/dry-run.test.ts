import { describe, expect, it } from 'vitest';
import { decide } from '../../functions/core/decide.ts';
import { DRY_RUN_SSM_STATUS, dryRunReport } from '../../functions/core/dry-run.ts';
import type { Member, VipRoute } from '../../functions/core/model.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';

const NODE1 = { instanceId: 'i-0a632a8349b701357', eni: 'eni-0a632a8349b701357' };
const NODE2 = { instanceId: 'i-0b1c2d3e4f5a69788', eni: 'eni-0b1c2d3e4f5a69788' };
const NODE3 = { instanceId: 'i-0c2d3e4f5a6978899', eni: 'eni-0c2d3e4f5a6978899' };

const member = (node: { instanceId: string; eni: string }, state = 'running'): Member => ({
  instanceId: node.instanceId,
  state,
  vpcId: 'vpc-0123456789abcdef0',
  tags: { 'pgpool-vip:cluster': 'main' },
  interfaces: [{ eni: node.eni, deviceIndex: 0, sourceDestCheck: false, attached: true }],
});
const route = (routeTableId: string, target: string | null): VipRoute => ({ routeTableId, vpcId: 'vpc-0123456789abcdef0', target, state: target === null ? null : 'active' });
const heldBy = (node: { instanceId: string; eni: string }, upIssuedAt: string): VipRecord => ({
  pk: 'vip#main',
  cluster: 'main',
  vip: '198.19.0.50',
  holderInstanceId: node.instanceId,
  holderEni: node.eni,
  upIssuedAt,
  upRequestId: '5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b',
  released: false,
  version: 3,
  updatedAt: upIssuedAt,
});
const request = (node: { instanceId: string; eni: string }, action: 'up' | 'down', issuedAt: string) => ({
  requestId: '9e8d7c6b-5a49-4382-b1c0-d9e8f7a6b5c4',
  action,
  ...node,
  issuedAt,
});
const members = [member(NODE1), member(NODE2), member(NODE3, 'stopped')];

describe('Function: dryRunReport', () => {
  it('reports, for an up that takes the VIP, the route of every table and the SSM commands it would send, none sent', () => {
    const vip = heldBy(NODE1, '2026-11-25T10:00:00.000Z');
    const plan = decide(request(NODE2, 'up', '2026-11-25T10:05:00.000Z'), vip, [route('rtb-0a1b2c3d4e5f60718', NODE1.eni), route('rtb-0b1c2d3e4f5a60718', null)], { holderRunning: true });

    const report = dryRunReport(plan, members, NODE2);

    expect(report).toEqual({
      outcome: 'applied',
      reason: null,
      routes: [
        { routeTableId: 'rtb-0a1b2c3d4e5f60718', before: NODE1.eni, after: NODE2.eni, change: 'replace' },
        { routeTableId: 'rtb-0b1c2d3e4f5a60718', before: null, after: NODE2.eni, change: 'create' },
      ],
      // The stopped member is not fenced, as in the real run.
      ssmCommands: [
        { purpose: 'add', commandId: 'none', instanceIds: [NODE2.instanceId], status: DRY_RUN_SSM_STATUS },
        { purpose: 'remove', commandId: 'none', instanceIds: [NODE1.instanceId], status: DRY_RUN_SSM_STATUS },
      ],
    });
  });

  it('reports a noop up of the holder as keep in every table', () => {
    const vip = heldBy(NODE1, '2026-11-25T10:00:00.000Z');
    const plan = decide(request(NODE1, 'up', '2026-11-25T10:05:00.000Z'), vip, [route('rtb-0a1b2c3d4e5f60718', NODE1.eni)], { holderRunning: true });

    const report = dryRunReport(plan, [member(NODE1)], NODE1);

    expect(report.outcome).toBe('noop');
    expect(report.routes).toEqual([{ routeTableId: 'rtb-0a1b2c3d4e5f60718', before: NODE1.eni, after: NODE1.eni, change: 'keep' }]);
    expect(report.ssmCommands.map((command) => command.purpose)).toEqual(['add']);
  });

  it('reports a down as the VIP off the sender only, no route', () => {
    const vip = heldBy(NODE1, '2026-11-25T10:00:00.000Z');
    const plan = decide(request(NODE1, 'down', '2026-11-25T10:05:00.000Z'), vip, [route('rtb-0a1b2c3d4e5f60718', NODE1.eni)], { holderRunning: true });

    expect(dryRunReport(plan, members, NODE1)).toEqual({
      outcome: 'applied',
      reason: null,
      routes: [],
      ssmCommands: [{ purpose: 'remove', commandId: 'none', instanceIds: [NODE1.instanceId], status: DRY_RUN_SSM_STATUS }],
    });
  });

  it('reports the hand-off of a releasing holder: the VIP off the sender, on the held node, routes to its ENI', () => {
    const claim = { instanceId: NODE2.instanceId, eni: NODE2.eni, issuedAt: '2026-11-25T10:01:00.000Z', requestId: '1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d', incarnation: null };
    const plan = { kind: 'down' as const, outcome: 'applied' as const, release: true, endsDisplacement: false, handoff: { claim, routes: [{ routeTableId: 'rtb-0a1b2c3d4e5f60718', before: NODE1.eni, change: 'replace' as const }] } };

    const report = dryRunReport(plan, members, NODE1);

    expect(report.outcome).toBe('applied');
    expect(report.reason).toBe(`would hand the VIP to ${NODE2.instanceId}, whose re-acquire ${claim.requestId} was held while ${NODE1.instanceId} held it`);
    expect(report.routes).toEqual([{ routeTableId: 'rtb-0a1b2c3d4e5f60718', before: NODE1.eni, after: NODE2.eni, change: 'replace' }]);
    expect(report.ssmCommands).toEqual([
      { purpose: 'remove', commandId: 'none', instanceIds: [NODE1.instanceId], status: DRY_RUN_SSM_STATUS },
      { purpose: 'add', commandId: 'none', instanceIds: [NODE2.instanceId], status: DRY_RUN_SSM_STATUS },
    ]);
  });

  it('reports a stale request with its reason and nothing to do', () => {
    const vip = { ...heldBy(NODE1, '2026-11-25T10:00:00.000Z'), members: { [NODE1.instanceId]: { upIssuedAt: '2026-11-25T10:00:00.000Z', upIncarnation: null, downIssuedAt: null } } };
    const plan = decide(request(NODE1, 'up', '2026-11-25T09:59:00.000Z'), { ...vip, holderInstanceId: NODE2.instanceId, holderEni: NODE2.eni }, [route('rtb-0a1b2c3d4e5f60718', NODE2.eni)], { holderRunning: true });

    const report = dryRunReport(plan, members, NODE1);

    expect(report.outcome).toBe('stale');
    expect(report.reason).toMatch(/older than this instance's own later up/);
    expect(report.routes).toEqual([]);
    expect(report.ssmCommands).toEqual([]);
  });
});
