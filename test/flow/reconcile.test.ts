import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it, vi } from 'vitest';
import { parseControllerConfig } from '../../lib/cluster-config.ts';
import { createReconcileHandler, type ReconcileDeps, type ReconcileResult } from '../../functions/reconcile/reconcile-flow.ts';
import { awsReconcilePorts } from '../../functions/adapters/aws-ports.ts';
import { localContext } from '../../local/controller.ts';
import type { ReconcilePorts } from '../../functions/core/ports.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { send } from '../kit/flow.ts';
import { addInstance, createMemoryHarness, type FlowHarness, type MemoryHarness } from '../kit/memory-harness.ts';
import { sharedMoto } from '../kit/moto.ts';

const VIP_CIDR = '198.19.0.50/32';

function scheduledEvent(): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/pgpool-vip-test-reconcile'],
    detail: {},
  };
}

function stateChangeEvent(instanceId: string, state: string): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}

/** The real reconcile handler on the harness's world; `heal` sets the cluster's opt-in. */
function reconciler(harness: MemoryHarness | Harness, options: { heal?: boolean } & Partial<ReconcileDeps> = {}) {
  const { heal, ...deps } = options;
  const [cluster] = harness.world.config.clusters;
  const handler = createReconcileHandler({
    config: parseControllerConfig({ ...harness.world.config, clusters: [{ ...cluster, heal: heal ?? false }] }),
    ports: reconcilePorts(harness),
    logger: new Logger({ serviceName: 'pgpool-vip', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'PgpoolVip', serviceName: 'pgpool-vip' }),
    confirmDelayMs: 0,
    ...deps,
  });
  return async (event: unknown = scheduledEvent()): Promise<ReconcileResult> => await handler(event, localContext());
}

/** The reconciler's ports: in memory, or the AWS adapters on the harness's moto clients. */
function reconcilePorts(harness: MemoryHarness | Harness): ReconcilePorts {
  return 'aws' in harness ? harness.ports : awsReconcilePorts(harness.clients, harness.world.ledgerTable);
}

/** A real switchover: `up` from the given member, through the switchover handler. */
async function up(harness: FlowHarness, index: number): Promise<void> {
  const { result } = await send(harness, index, 'up');
  if (result.outcome !== 'applied') throw new Error(`up was ${result.outcome}: ${result.reason ?? ''}`);
}

function member(harness: FlowHarness, index: number) {
  const instance = harness.world.instances[index];
  if (instance === undefined) throw new Error(`no instance ${index}`);
  return instance;
}

function table(harness: FlowHarness, index: number): string {
  const id = harness.world.routeTableIds[index];
  if (id === undefined) throw new Error(`no route table ${index}`);
  return id;
}

function pointElsewhere(harness: MemoryHarness, routeTableId: string, eni: string): void {
  harness.aws.putRoute(routeTableId, VIP_CIDR, eni);
}

function stop(harness: MemoryHarness, instanceId: string): void {
  const instance = harness.aws.instances.get(instanceId);
  if (instance === undefined) throw new Error(`no instance ${instanceId}`);
  instance.state = 'stopped';
}

describe.each(['memory', 'moto'] as const)('Function: reconcile handler, end to end (%s)', (backend) => {
  const harnessOn = async (options: { routeTableCount?: number }) =>
    backend === 'memory' ? createMemoryHarness(options) : await createHarness(sharedMoto().endpoint, options);

  it('finds the VIP healthy after a switchover', async () => {
    // Prepare
    const harness = await harnessOn({ routeTableCount: 2 });
    await up(harness, 0);
    // Act
    const result = await reconciler(harness)();
    // Assess
    expect(result.clusters).toEqual([
      expect.objectContaining({ cluster: harness.world.config.clusters[0]?.name, healthy: true, drifts: [], interfaceCheck: 'not-checked' }),
    ]);
  });
});

describe('Function: reconcile handler (in memory)', () => {
  it('reports a cluster whose ledger has no holder yet', async () => {
    const harness = createMemoryHarness();

    const result = await reconciler(harness)();

    expect(result.clusters[0]?.healthy).toBe(false);
    expect(result.clusters[0]?.drifts).toEqual([expect.objectContaining({ kind: 'no-holder-recorded', holder: null, healed: false })]);
  });

  it('reports a configured table whose VIP route was deleted, and leaves it as it is without heal', async () => {
    const harness = createMemoryHarness({ routeTableCount: 2 });
    await up(harness, 0);
    harness.aws.deleteRoute(table(harness, 1), VIP_CIDR);

    const result = await reconciler(harness)();

    expect(result.clusters[0]?.drifts).toEqual([
      expect.objectContaining({
        kind: 'route-missing',
        table: table(harness, 1),
        expected: member(harness, 0).eni,
        found: null,
        holder: member(harness, 0).instanceId,
        healed: false,
        healNote: 'heal is off for this cluster',
      }),
    ]);
    expect(await harness.routeTargets()).toEqual({ [table(harness, 0)]: member(harness, 0).eni, [table(harness, 1)]: null });
  });

  it('reports a route pointing at another member and never moves it when heal is off', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    pointElsewhere(harness, table(harness, 0), member(harness, 1).eni);

    const first = await reconciler(harness)();
    const second = await reconciler(harness)();

    expect(first.clusters[0]?.drifts).toEqual([
      expect.objectContaining({ kind: 'route-elsewhere', expected: member(harness, 0).eni, found: member(harness, 1).eni, healed: false }),
    ]);
    expect(second.clusters[0]?.drifts.map((drift) => drift.kind)).toEqual(['route-elsewhere']);
    expect(await harness.routeTargets()).toEqual({ [table(harness, 0)]: member(harness, 1).eni });
  });

  it('moves the route back to the running holder when the cluster opted in to heal', async () => {
    const harness = createMemoryHarness({ routeTableCount: 2 });
    await up(harness, 0);
    pointElsewhere(harness, table(harness, 0), member(harness, 1).eni);
    harness.aws.deleteRoute(table(harness, 1), VIP_CIDR);

    const result = await reconciler(harness, { heal: true })();

    expect(result.clusters[0]?.drifts).toEqual([
      expect.objectContaining({ kind: 'route-elsewhere', table: table(harness, 0), healed: true, healNote: null }),
      expect.objectContaining({ kind: 'route-missing', table: table(harness, 1), healed: true, healNote: null }),
    ]);
    expect(await harness.routeTargets()).toEqual({ [table(harness, 0)]: member(harness, 0).eni, [table(harness, 1)]: member(harness, 0).eni });
    expect((await reconciler(harness, { heal: true })()).clusters[0]?.healthy).toBe(true);
  });

  it('reports a stopped holder and does not heal towards it', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    pointElsewhere(harness, table(harness, 0), member(harness, 1).eni);
    stop(harness, member(harness, 0).instanceId);

    const result = await reconciler(harness, { heal: true })();

    const drifts = result.clusters[0]?.drifts ?? [];
    expect(drifts.map((drift) => drift.kind).sort()).toEqual(['holder-not-running', 'route-elsewhere']);
    expect(drifts.find((drift) => drift.kind === 'holder-not-running')?.found).toMatch(/^stop/);
    const elsewhere = drifts.find((drift) => drift.kind === 'route-elsewhere');
    expect(elsewhere?.healed).toBe(false);
    expect(elsewhere?.healNote).toMatch(/^holder i-[0-9a-f]+ is stop/);
    expect(await harness.routeTargets()).toEqual({ [table(harness, 0)]: member(harness, 1).eni });
  });

  it('reports a VIP route in a table of the VPC that is not configured', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    const strayId = harness.aws.createRouteTable(harness.world.vpcId);
    harness.aws.putRoute(strayId, VIP_CIDR, member(harness, 2).eni);

    const result = await reconciler(harness, { heal: true })();

    expect(result.clusters[0]?.drifts).toEqual([
      expect.objectContaining({ kind: 'table-not-in-config', table: strayId, expected: null, found: member(harness, 2).eni, healed: false, healNote: null }),
    ]);
    expect(await harness.routeTargets()).toEqual({ [table(harness, 0)]: member(harness, 0).eni });
  });

  it('reports nothing for a drift gone by the second look', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    pointElsewhere(harness, table(harness, 0), member(harness, 1).eni);
    let looks = 0;
    // A switchover in flight: the route catches up with the ledger while the reconciler waits.
    const sleep = () => {
      looks += 1;
      pointElsewhere(harness, table(harness, 0), member(harness, 0).eni);
      return Promise.resolve();
    };

    const result = await reconciler(harness, { confirmDelayMs: 15_000, sleep })();

    expect(looks).toBe(1);
    expect(result.clusters[0]).toMatchObject({ healthy: true, drifts: [] });
  });

  it('checks only the clusters an instance belongs to on a state change, and ignores other instances', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    stop(harness, member(harness, 0).instanceId);
    const outsider = addInstance(harness.world, harness.world.vpcId, {});
    const reconcile = reconciler(harness);

    const forMember = await reconcile(stateChangeEvent(member(harness, 0).instanceId, 'stopped'));
    const forOutsider = await reconcile(stateChangeEvent(outsider.instanceId, 'stopped'));

    expect(forMember.clusters.map((report) => report.drifts.map((drift) => drift.kind))).toEqual([['holder-not-running']]);
    expect(forOutsider.clusters).toEqual([]);
    expect(forOutsider.ignored).toBe(`instance ${outsider.instanceId} is not a member of any cluster`);
  });

  it('asks the holder about its interface when the cluster opted in, at most once per interval', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    const asked: string[] = [];
    const reconcile = reconciler(harness, {
      interfaceCheck: {
        probe: ({ instanceId }) => {
          asked.push(instanceId);
          return Promise.resolve('absent');
        },
        enabledFor: () => true,
        minIntervalMs: 300_000,
      },
    });

    const first = await reconcile();
    const second = await reconcile();

    expect(asked).toEqual([member(harness, 0).instanceId]);
    expect(first.clusters[0]?.drifts).toEqual([expect.objectContaining({ kind: 'vip-not-on-interface', expected: 'present', found: 'absent' })]);
    expect(second.clusters[0]).toMatchObject({ healthy: true, interfaceCheck: 'not-checked' });
  });

  it('refuses an event that is neither the schedule nor an EC2 state change, naming what it expected', async () => {
    const harness = createMemoryHarness();

    await expect(reconciler(harness)({ source: 'pgpool.vip.agent', 'detail-type': 'VIP Switchover Requested', id: 'x' })).rejects.toThrow(
      /not a Scheduled Event nor an EC2 Instance State-change Notification/,
    );
  });

  it('fails loudly naming the cluster it could not check, after recording the others', async () => {
    const harness = createMemoryHarness();
    await up(harness, 0);
    const [cluster] = harness.world.config.clusters;
    const logger = new Logger({ serviceName: 'pgpool-vip', logLevel: 'SILENT' });
    const infoLines = vi.spyOn(logger, 'info');
    const handler = createReconcileHandler({
      config: parseControllerConfig({
        clusters: [cluster, { ...cluster, name: 'ghost', vip: '198.19.0.51', routeTables: ['rtb-00000000000000000'] }],
      }),
      ports: harness.ports,
      logger,
      confirmDelayMs: 0,
    });

    await expect(handler(scheduledEvent(), localContext())).rejects.toThrow(/cluster "ghost": .*rtb-00000000000000000/);
    expect(infoLines).toHaveBeenCalledWith('vip healthy', expect.objectContaining({ cluster: cluster?.name }));
  });
});
