import { describe, expect, it } from 'vitest';
import type { WorldInstance } from '../../local/world.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { createMemoryHarness, MEMORY_STS_ENDPOINT, type MemoryHarness } from '../kit/memory-harness.ts';

/** How long the held first attempt may take to land, as the port reports it: long enough for a whole switchover in memory. */
const LANDS_WITHIN_MS = 3000;

/** Resolves once `ready()` holds, checking every few milliseconds (fails after `ms`). */
async function until(ready: () => boolean, what: string, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!ready()) {
    if (Date.now() - started > ms) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether the request has sent its fence (the `remove` to the other members): it is done acting. */
function fenceSent(harness: MemoryHarness, requestId: string): boolean {
  return harness.aws.commands.some((sent) => sent.command.comment === `pgpool-vip fence ${harness.world.config.clusters[0]?.vip} request ${requestId}`);
}

// Each spec has its own in-memory world, and two of them wait for a held write: they run side by side.
describe.concurrent('Function: switchover handler, a route write given up on lands after a newer switchover (in memory)', () => {
  it('ends with every table on the newest holder when the late write of the older request lands after the takeover', async () => {
    // Prepare: three tables; node 1's first route write is given up on and retried (the retry
    // applies), its first attempt still in flight; a second controller on the same world.
    const first = createMemoryHarness({ routeTableCount: 3 });
    const second = createMemoryHarness({ world: first.world });
    const [node1, node2] = first.world.instances as [WorldInstance, WorldInstance];
    const [table] = first.world.routeTableIds as [string];
    first.aws.holdRouteWrite((change) => change.routeTableId === table && change.eni === node1.eni, LANDS_WITHIN_MS);
    const older = await signedDetail(first.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const newer = await signedDetail(first.world, node2, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    // Act: node 1's up acts to its end; node 2 takes over; then EC2 applies node 1's first attempt.
    const olderInvocation = first.invoke(envelope(older, first.world));
    await until(() => fenceSent(first, older.requestId), 'node 1 to finish acting');
    const newerResult = await second.invoke(envelope(newer, first.world));
    const beforeLanding = await first.routeTargets();
    first.aws.landLateRouteWrites();
    const olderResult = await olderInvocation;

    // Assess: the takeover had moved every table; the late write had pointed one back at node 1;
    // node 1's request waited for it and pointed it at the ledger's holder, node 2.
    expect(newerResult.outcome).toBe('applied');
    expect(Object.values(beforeLanding)).toEqual([node2.eni, node2.eni, node2.eni]);
    expect(Object.values(await first.routeTargets())).toEqual([node2.eni, node2.eni, node2.eni]);
    expect(await first.vip()).toMatchObject({ holderInstanceId: node2.instanceId, holderEni: node2.eni, upRequestId: newer.requestId });
    expect(olderResult).toMatchObject({
      outcome: 'stale',
      reason: `superseded while applying by request ${newer.requestId} of ${node2.instanceId}`,
      holderAfter: node2.instanceId,
    });
    expect(olderResult.routes.find((route) => route.routeTableId === table)).toEqual({ routeTableId: table, before: node1.eni, after: node2.eni, change: 'replace' });
    // One outcome per request, each in the ledger as the invocation reported it.
    expect((await first.request(older.requestId))?.status).toBe('stale');
    expect((await first.request(newer.requestId))?.status).toBe('applied');
    expect(first.aws.outcomes.map((outcome) => outcome.requestId).sort()).toEqual([older.requestId, newer.requestId].sort());
  });

  it('waits until the write given up on can no longer land, and ends applied with every table on its sender', async () => {
    const harness = createMemoryHarness({ routeTableCount: 3 });
    const [node1] = harness.world.instances as [WorldInstance];
    const [table] = harness.world.routeTableIds as [string];
    harness.aws.holdRouteWrite((change) => change.routeTableId === table, LANDS_WITHIN_MS);
    const signed = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const invocation = harness.invoke(envelope(signed, harness.world));
    await until(() => fenceSent(harness, signed.requestId), 'node 1 to finish acting');
    harness.aws.landLateRouteWrites();
    const result = await invocation;

    expect(result.outcome).toBe('applied');
    expect(result.holderAfter).toBe(node1.instanceId);
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni, node1.eni, node1.eni]);
    // It waited for the landing, not only for its own writes.
    expect(result.durationsMs['late-writes']).toBeGreaterThanOrEqual(LANDS_WITHIN_MS - 500);
  });

  it('does not wait when every route write was answered', async () => {
    const harness = createMemoryHarness({ routeTableCount: 3 });
    const [node1] = harness.world.instances as [WorldInstance];
    const signed = await signedDetail(harness.world, node1, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope(signed, harness.world));

    expect(result.outcome).toBe('applied');
    expect(result.durationsMs).not.toHaveProperty('late-writes');
  });
});
