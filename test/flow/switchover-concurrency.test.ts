import { describe, expect, it } from 'vitest';
import { vipCidr } from '../../functions/core/model.ts';
import type { WorldInstance } from '../../local/world.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { MemoryAwsError } from '../kit/memory-aws.ts';
import { createMemoryHarness, MEMORY_STS_ENDPOINT, type MemoryHarness } from '../kit/memory-harness.ts';

/**
 * Holds the first route write of `slow` until `meanwhile` has run to its end, so a second request
 * is decided and applied while the first one is acting. `alsoFail` makes every later route write
 * of `slow` fail (as a throttled ReplaceRoute).
 */
function holdFirstRouteWrite(slow: MemoryHarness, meanwhile: () => Promise<unknown>, alsoFail: { laterWrites?: boolean } = {}): void {
  const { routeTables } = slow.ports;
  const point = routeTables.pointVipRoute.bind(routeTables);
  let held: Promise<unknown> | null = null;
  routeTables.pointVipRoute = async (change) => {
    if (held === null) {
      held = meanwhile();
      await held;
    } else if (alsoFail.laterWrites === true) {
      throw new MemoryAwsError('RequestLimitExceeded', 'Request limit exceeded.');
    }
    return await point(change);
  };
}

describe('Function: switchover handler under concurrent requests for one VIP (in memory)', () => {
  it('leaves the route and the ledger on the same holder, the one decided last, when two controllers race', async () => {
    // Prepare: two controllers (two handler instances) on one world.
    const first = createMemoryHarness();
    const second = createMemoryHarness({ world: first.world });
    const [node1, node2] = first.world.instances as [WorldInstance, WorldInstance];
    const older = await signedDetail(first.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, issuedAt: new Date(Date.now() - 1000) });
    const newer = await signedDetail(first.world, node2, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    // Act
    const results = await Promise.all([
      first.invoke(envelope(older, first.world)),
      second.invoke(envelope(newer, first.world)),
    ]);

    // Assess: across nodes the ledger's order rules, not the clocks; routes and ledger agree.
    const holder = await first.vip();
    const winner = [node1, node2].find((node) => node.instanceId === holder?.holderInstanceId);
    expect(winner).toBeDefined();
    expect(holder?.upRequestId).toBe(winner === node1 ? older.requestId : newer.requestId);
    expect(results.map((result) => result.outcome)).toContain('applied');
    expect(Object.values(await first.routeTargets())).toEqual([winner?.eni]);
  });

  it('puts the routes back on the newer holder when a newer up lands while an older one is acting', async () => {
    // Prepare: the older request's route write is held until the newer request has finished.
    const slow = createMemoryHarness();
    const fast = createMemoryHarness({ world: slow.world });
    const [node1, node2] = slow.world.instances as [WorldInstance, WorldInstance];
    const older = await signedDetail(slow.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, issuedAt: new Date(Date.now() - 1000) });
    const newer = await signedDetail(slow.world, node2, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    holdFirstRouteWrite(slow, () => fast.invoke(envelope(newer, slow.world)));

    // Act
    const olderResult = await slow.invoke(envelope(older, slow.world));

    // Assess
    expect(olderResult.outcome).toBe('stale');
    expect(olderResult.reason).toBe(`superseded while applying by request ${newer.requestId} of ${node2.instanceId}`);
    expect(olderResult.holderAfter).toBe(node2.instanceId);
    expect(Object.values(await slow.routeTargets())).toEqual([node2.eni]);
    expect(await slow.vip()).toMatchObject({ holderInstanceId: node2.instanceId });
  });

  it('reports failed, not stale, when pointing the routes back at the newer holder fails', async () => {
    const slow = createMemoryHarness();
    const fast = createMemoryHarness({ world: slow.world });
    const [node1, node2] = slow.world.instances as [WorldInstance, WorldInstance];
    const older = await signedDetail(slow.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, issuedAt: new Date(Date.now() - 1000) });
    const newer = await signedDetail(slow.world, node2, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    // The route points at a third node, so the held write is a replace that lands after the newer one's.
    const [table] = slow.world.routeTableIds as [string];
    slow.aws.putRoute(table, vipCidr(slow.world.config.clusters[0]?.vip ?? ''), slow.world.instances[2]?.eni ?? '');
    holdFirstRouteWrite(slow, () => fast.invoke(envelope(newer, slow.world)), { laterWrites: true });

    const olderResult = await slow.invoke(envelope(older, slow.world));

    expect(olderResult.outcome).toBe('failed');
    expect(olderResult.failedStep).toBe('route');
    expect(olderResult.reason).toMatch(
      new RegExp(`^superseded by request ${newer.requestId} of ${node2.instanceId}, and pointing the routes back at it failed: route table rtb-`),
    );
  });

  it('does not fence the holder when two ups of the same leader overlap', async () => {
    const first = createMemoryHarness();
    const second = createMemoryHarness({ world: first.world });
    const [node1] = first.world.instances as [WorldInstance];
    const earlier = await signedDetail(first.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT, issuedAt: new Date(Date.now() - 1000) });
    const later = await signedDetail(first.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    holdFirstRouteWrite(first, () => second.invoke(envelope(later, first.world)));

    const result = await first.invoke(envelope(earlier, first.world));

    expect(result.outcome).toBe('applied');
    const removals = result.ssmCommands.filter((command) => command.purpose === 'remove');
    expect(removals.flatMap((command) => command.instanceIds)).not.toContain(node1.instanceId);
    expect(Object.values(await first.routeTargets())).toEqual([node1.eni]);
  });
});
