import { describe, expect, it } from 'vitest';
import { send as sendAs } from '../kit/flow.ts';
import { createMemoryHarness, type MemoryHarness } from '../kit/memory-harness.ts';
import type { WorldInstance } from '../../local/world.ts';

// A dry run on the in-memory ports (test/contract/ports.test.ts pins them to the AWS adapters,
// the ledger's history index included): the controller verifies, validates and decides, records
// one outcome marked as a dry run, and changes nothing: no VIP record, no route, no SSM command,
// no source/dest check. Every port call is counted, writes among them. The bundled agent's
// `up --dry-run` against moto (test/integration/agent-dry-run.test.ts) is the end-to-end path.

/** The port calls that change AWS: route writes, the source/dest check, SSM commands. */
const WRITES = new Set(['routes:pointVipRoute', 'members:disableSourceDestCheck', 'ssm:send']);

function countingHarness(): { harness: MemoryHarness; writes: () => string[] } {
  const harness = createMemoryHarness();
  return { harness, writes: () => harness.aws.calls.filter((call) => WRITES.has(call)) };
}

async function send(harness: MemoryHarness, instance: WorldInstance | undefined, action: 'up' | 'down', dryRun: boolean, issuedAt?: Date) {
  if (instance === undefined) throw new Error('no instance');
  return await sendAs(harness, instance, action, { ...(issuedAt ? { issuedAt } : {}), ...(dryRun ? { detail: { dryRun: true } } : {}) });
}

/** The cluster's outcomes in the ledger's history index. */
const history = (harness: MemoryHarness) => harness.aws.history(harness.world.config.clusters[0]?.name ?? '');

const sourceDestCheck = (harness: MemoryHarness, eni: string | undefined) =>
  [...harness.aws.instances.values()].find((instance) => instance.eni === eni)?.sourceDestCheck;

describe('Function: switchover handler, dry run (in memory)', () => {
  it('reports the takeover it would make, and leaves routes, VIP record, SSM and the source/dest check untouched', async () => {
    const { harness, writes } = countingHarness();
    const [node1, node2, node3] = harness.world.instances;
    await send(harness, node1, 'up', false, new Date(Date.now() - 2000));
    const routesBefore = await harness.routeTargets();
    const vipBefore = await harness.vip();
    const historyBefore = history(harness).length;
    const writesBefore = writes().length;
    // The counter sees the controller's writes: the real up's route write and SSM commands.
    expect(writes()).toEqual(expect.arrayContaining(['routes:pointVipRoute', 'ssm:send']));

    const { detail, result } = await send(harness, node2, 'up', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, reason: null, holderBefore: node1?.instanceId, holderAfter: node2?.instanceId, sourceDestCheckDisabled: false });
    expect(result.routes).toEqual([{ routeTableId: harness.world.routeTableIds[0], before: node1?.eni, after: node2?.eni, change: 'replace' }]);
    const [add, fence] = result.ssmCommands;
    expect(add).toEqual({ purpose: 'add', commandId: 'none', instanceIds: [node2?.instanceId], status: 'NotSent' });
    expect({ ...fence, instanceIds: [...(fence?.instanceIds ?? [])].sort() }).toEqual({ purpose: 'remove', commandId: 'none', instanceIds: [node1?.instanceId, node3?.instanceId].sort(), status: 'NotSent' });
    expect(writes().slice(writesBefore)).toEqual([]);
    expect(await harness.routeTargets()).toEqual(routesBefore);
    expect(await harness.vip()).toEqual(vipBefore);
    expect(sourceDestCheck(harness, node2?.eni)).toBe(true);
    // One outcome in the ledger, the way the agent waits for it, marked as a dry run.
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'applied', dryRun: true, holderAfter: node2?.instanceId, routes: result.routes });
    expect(history(harness).length).toBe(historyBefore + 1);
  });

  it('writes no VIP record for a dry run of the first up, so the first real up is still the first', async () => {
    const { harness, writes } = countingHarness();
    const [node1] = harness.world.instances;

    const { result } = await send(harness, node1, 'up', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, holderBefore: null, holderAfter: node1?.instanceId });
    expect(result.routes).toEqual([{ routeTableId: harness.world.routeTableIds[0], before: null, after: node1?.eni, change: 'create' }]);
    expect(writes()).toEqual([]);
    expect(await harness.vip()).toBeNull();
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: null });

    const real = await send(harness, node1, 'up', false);
    expect(real.result).toMatchObject({ outcome: 'applied', dryRun: false, holderBefore: null });
    expect(real.result.routes[0]?.change).toBe('create');
  });

  it('reports a down of the holder as the VIP off its interface, and records no release', async () => {
    const { harness, writes } = countingHarness();
    const [node1] = harness.world.instances;
    await send(harness, node1, 'up', false, new Date(Date.now() - 2000));
    const vipBefore = await harness.vip();
    const writesBefore = writes().length;

    const { result } = await send(harness, node1, 'down', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, routes: [], holderAfter: null });
    expect(result.ssmCommands).toEqual([{ purpose: 'remove', commandId: 'none', instanceIds: [node1?.instanceId], status: 'NotSent' }]);
    expect(writes().slice(writesBefore)).toEqual([]);
    expect(await harness.vip()).toEqual(vipBefore);
  });

  it('answers stale with the reason when the real run would be refused as stale', async () => {
    const { harness, writes } = countingHarness();
    const [node1, node2] = harness.world.instances;
    const start = Date.now();
    await send(harness, node1, 'up', false, new Date(start - 5000));
    await send(harness, node1, 'down', false, new Date(start - 2000));
    await send(harness, node2, 'up', false, new Date(start - 1000));
    const writesBefore = writes().length;

    const { detail, result } = await send(harness, node1, 'up', true, new Date(start - 3000));

    expect(result).toMatchObject({ outcome: 'stale', dryRun: true, routes: [], ssmCommands: [] });
    expect(result.reason).toMatch(/older than this instance's own later down/);
    expect(writes().slice(writesBefore)).toEqual([]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'stale', dryRun: true });
  });
});
