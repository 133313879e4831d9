import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { captureJsonOutput } from '../support/json-output.ts';
import { flowHarness, seconds, send, type Backend } from '../kit/flow.ts';
import { createMemoryHarness } from '../kit/memory-harness.ts';
import { sharedMoto } from '../kit/moto.ts';
import { reusedWorld } from '../kit/reused-world.ts';

/** On moto, the specs on the default world share one, reset between them (test/kit/reused-world.ts). */
const defaultMotoWorld = reusedWorld(() => sharedMoto().endpoint);
const defaultHarness = async (backend: Backend) => (backend === 'moto' ? await defaultMotoWorld() : await flowHarness(backend));

describe.each(['memory', 'moto'] as const)('Function: switchover handler, end to end (%s)', (backend) => {
  // One after the other: on moto the first three share a world.
  it('creates the VIP route to the sender ENI when no route exists, and records the holder', async () => {
    // Prepare
    const harness = await defaultHarness(backend);
    const [node1] = harness.world.instances;
    // Act
    const { detail, result } = await send(harness, 0, 'up');
    // Assess
    expect(result.outcome).toBe('applied');
    expect(result.routes).toEqual([
      { routeTableId: harness.world.routeTableIds[0], before: null, after: node1?.eni, change: 'create' },
    ]);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node1?.eni });
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'applied', instanceId: node1?.instanceId });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: node1?.instanceId, holderEni: node1?.eni, released: false });
  });

  it('replaces a route that points at another member and fences the other members', async () => {
    const harness = await defaultHarness(backend);
    const [node1, node2, node3] = harness.world.instances;
    await send(harness, 0, 'up', { issuedAt: seconds(-2) });

    const { result } = await send(harness, 1, 'up');

    expect(result.outcome).toBe('applied');
    expect(result.routes[0]).toMatchObject({ before: node1?.eni, after: node2?.eni, change: 'replace' });
    expect(result.holderBefore).toBe(node1?.instanceId);
    expect(result.holderAfter).toBe(node2?.instanceId);
    const fence = result.ssmCommands.find((command) => command.purpose === 'remove');
    expect(fence?.instanceIds.sort()).toEqual([node1?.instanceId, node3?.instanceId].sort());
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2?.eni });
  });

  it("keeps the new leader's route when the old leader's down arrives after the new leader's up", async () => {
    const harness = await defaultHarness(backend);
    const [node1, node2] = harness.world.instances;
    await send(harness, 0, 'up', { issuedAt: seconds(-10) });
    await send(harness, 1, 'up', { issuedAt: seconds(-3) });

    const { result } = await send(harness, 0, 'down');

    expect(result.outcome).toBe('noop');
    expect(result.ssmCommands).toEqual([expect.objectContaining({ purpose: 'remove', instanceIds: [node1?.instanceId] })]);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2?.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: node2?.instanceId, released: false });
  });

  it('rewrites the route in every configured table', async () => {
    const harness = await flowHarness(backend, { routeTableCount: 3 });
    const [node1] = harness.world.instances;

    const { result } = await send(harness, 0, 'up');

    expect(result.outcome).toBe('applied');
    expect(result.routes.map((route) => route.change)).toEqual(['create', 'create', 'create']);
    expect(Object.values(await harness.routeTargets())).toEqual([node1?.eni, node1?.eni, node1?.eni]);
  });
});

describe('Function: switchover handler (in memory)', () => {
  it('is a no-op when the route already points at the sender, but still puts the VIP on its interface', async () => {
    const harness = createMemoryHarness();
    await send(harness, 0, 'up', { issuedAt: seconds(-2) });

    const { result } = await send(harness, 0, 'up');

    expect(result.outcome).toBe('noop');
    expect(result.routes[0]?.change).toBe('keep');
    expect(result.ssmCommands.find((command) => command.purpose === 'add')?.status).toBe('Success');
  });

  it('keeps the route on down from the holder and records the release', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    await send(harness, 0, 'up', { issuedAt: seconds(-2) });

    const { result } = await send(harness, 0, 'down');

    expect(result.outcome).toBe('applied');
    expect(result.routes).toEqual([]);
    expect(result.ssmCommands).toEqual([expect.objectContaining({ purpose: 'remove', instanceIds: [node1?.instanceId] })]);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node1?.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: node1?.instanceId, released: true });
  });

  it("refuses an up issued before the sender's own later down and changes nothing", async () => {
    const harness = createMemoryHarness();
    const [, node2] = harness.world.instances;
    const start = Date.now();
    const at = (n: number): Date => new Date(start + n * 1000);
    await send(harness, 0, 'up', { issuedAt: at(-5) });
    await send(harness, 0, 'down', { issuedAt: at(-2) });
    await send(harness, 1, 'up', { issuedAt: at(-1) });

    const { detail, result } = await send(harness, 0, 'up', { issuedAt: at(-3) });

    expect(result.outcome).toBe('stale');
    expect(result.reason).toMatch(/older than this instance's own later down/);
    expect(result.ssmCommands).toEqual([]);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2?.eni });
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'stale' });
  });

  it('answers a duplicate delivery from the ledger and does nothing again', async () => {
    const harness = createMemoryHarness();
    const { event, detail } = await send(harness, 0, 'up');
    const before = await harness.request(detail.requestId);

    const again = await harness.invoke(event);

    expect(again.duplicate).toBe(true);
    expect(again.outcome).toBe('applied');
    expect(again.ssmCommands).toEqual([]);
    expect(await harness.request(detail.requestId)).toEqual(before);
  });

  it('keeps the VIP on the new leader when the displaced old leader asks for it again (partition: both think they lead)', async () => {
    const harness = createMemoryHarness();
    const [node1, node2] = harness.world.instances;
    const boot = '0b0b0b0b-1111-4111-8111-000000000001';
    await send(harness, 0, 'up', { issuedAt: seconds(-5), incarnation: { bootId: boot, watchdog: '300@2000', escalation: '330@6000' } });
    await send(harness, 1, 'up', { issuedAt: seconds(-3) });

    // node1's pgpool watchdog saw its VIP removed by the fencing and re-ran if_up_cmd itself.
    const { result } = await send(harness, 0, 'up', { incarnation: { bootId: boot, watchdog: '300@2000', escalation: null } });

    expect(result.outcome).toBe('stale');
    expect(result.reason).toContain(`${node1?.instanceId} lost the VIP to ${node2?.instanceId}`);
    expect(result.ssmCommands).toEqual([]);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2?.eni });
  });

  it('gives the VIP back to the old leader once the new leader released it', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    await send(harness, 0, 'up', { issuedAt: seconds(-5) });
    await send(harness, 1, 'up', { issuedAt: seconds(-3) });
    await send(harness, 1, 'down', { issuedAt: seconds(-1) });

    const { result } = await send(harness, 0, 'up');

    expect(result.outcome).toBe('applied');
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node1?.eni });
  });
});

describe('Function: switchover handler metrics (in memory)', () => {
  it('counts a duplicate delivery as DuplicateDeliveries, with no switchover counted', async () => {
    const output = captureJsonOutput();
    try {
      const harness = createMemoryHarness({ metrics: new Metrics({ namespace: 'PgpoolVip', serviceName: 'pgpool-vip' }) });
      const { event } = await send(harness, 0, 'up');
      output.clear();

      await harness.invoke(event);

      const emf = output.lines().filter((line) => '_aws' in line);
      expect(emf).toHaveLength(1);
      expect(emf[0]).toMatchObject({ DuplicateDeliveries: 1, cluster: harness.world.config.clusters[0]?.name });
      expect(emf[0]).not.toHaveProperty('Switchovers');
    } finally {
      output.restore();
    }
  });
});
