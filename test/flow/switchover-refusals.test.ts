import { describe, expect, it } from 'vitest';
import { MEMBER_TAG_KEY } from '../../lib/cluster-config.ts';
import { vipCidr } from '../../functions/core/model.ts';
import type { WorldInstance } from '../../local/world.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { flowHarness, send, type Backend } from '../kit/flow.ts';
import { MemoryAwsError } from '../kit/memory-aws.ts';
import { addInstance, createMemoryHarness, MEMORY_STS_ENDPOINT, type FlowHarness, type MemoryHarness } from '../kit/memory-harness.ts';
import { sharedMoto } from '../kit/moto.ts';
import { reusedWorld } from '../kit/reused-world.ts';

/** On moto, the refusal specs share one world, reset between them (test/kit/reused-world.ts). */
const motoWorld = reusedWorld(() => sharedMoto().endpoint);
const harnessOn = async (backend: Backend) => (backend === 'moto' ? await motoWorld() : await flowHarness(backend));

async function up(harness: FlowHarness, instance: WorldInstance | undefined, detail: Record<string, unknown> = {}) {
  if (instance === undefined) throw new Error('no instance');
  return await send(harness, instance, 'up', { detail });
}

const firstTable = (harness: FlowHarness): string => harness.world.routeTableIds[0] as string;
const instanceOf = (harness: MemoryHarness, node: WorldInstance | undefined) => {
  const instance = harness.aws.instances.get(node?.instanceId ?? '');
  if (instance === undefined) throw new Error('no such instance');
  return instance;
};

describe.each(['memory', 'moto'] as const)('Function: switchover handler refusals, end to end (%s)', (backend) => {
  it('rejects a request for a VIP the cluster does not own', async () => {
    const harness = await harnessOn(backend);

    const { result } = await up(harness, harness.world.instances[0], { vip: '198.19.0.99' });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/VIP 198\.19\.0\.99 is not the VIP of cluster/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it("rejects an ENI that is not attached to the sender (another member's ENI)", async () => {
    const harness = await harnessOn(backend);
    const [node1, node2] = harness.world.instances;

    const { result } = await up(harness, node1, { eni: node2?.eni });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`${node2?.eni} is not attached to instance ${node1?.instanceId}`);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });
});

describe('Function: switchover handler refusals (in memory)', () => {
  it('rejects a malformed event naming the field, without asking STS or touching routes', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope({ ...signed, vip: '198.19.0.500' }, harness.world));

    expect(result.outcome).toBe('rejected');
    expect(result.failedStep).toBe('parse');
    expect(result.reason).toContain('detail.vip: must be a dotted IPv4 address');
    expect(harness.aws.calls.filter((call) => call.startsWith('sts:'))).toEqual([]);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
    expect(await harness.request(signed.requestId)).toMatchObject({ status: 'rejected' });
  });

  it('rejects an event that is not a switchover request at all', async () => {
    const harness = createMemoryHarness();

    const result = await harness.invoke({ id: 'x', source: 'someone.else', 'detail-type': 'Other', detail: {} });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^malformed event: source/);
  });

  it('rejects a request for a cluster that is not configured', async () => {
    const harness = createMemoryHarness();

    const { result } = await up(harness, harness.world.instances[0], { cluster: 'elsewhere' });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe('cluster "elsewhere" is not configured on this controller');
  });

  it('rejects an instance without the member tag', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    delete instanceOf(harness, node1).tags[MEMBER_TAG_KEY];

    const { detail, result } = await up(harness, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toContain(`instance ${node1?.instanceId} is not a member of cluster`);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'rejected', failedStep: 'validate' });
  });

  it('rejects a stopped instance', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    instanceOf(harness, node1).state = 'stopped';

    const { result } = await up(harness, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`instance ${node1?.instanceId} is stopped, not running`);
  });

  it('rejects a tagged instance in another VPC', async () => {
    const harness = createMemoryHarness();
    const otherVpc = harness.aws.createVpc('198.18.0.0/16');
    const stranger = addInstance(harness.world, otherVpc, { [MEMBER_TAG_KEY]: harness.world.config.clusters[0]?.name ?? '' });
    const instanceId = stranger.instanceId;

    const { result } = await up(harness, stranger);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`instance ${instanceId} is in ${otherVpc}, not in ${harness.world.vpcId} of the cluster's route tables`);
  });

  it('disables the source/dest check on the ENI when the cluster allows it, and audits it', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;

    const { result } = await up(harness, node1);

    expect(result.outcome).toBe('applied');
    expect(result.sourceDestCheckDisabled).toBe(true);
    expect(instanceOf(harness, node1).sourceDestCheck).toBe(false);
  });

  it('rejects an issuedAt that is not the time the proof was signed (requests are ordered by it)', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    const signingDate = new Date();
    const signed = await signedDetail(harness.world, node1 as WorldInstance, {
      action: 'up',
      stsEndpoint: MEMORY_STS_ENDPOINT,
      signingDate,
      issuedAt: new Date(signingDate.getTime() + 30_000),
    });

    const result = await harness.invoke(envelope(signed, harness.world));

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^issuedAt .* is not the time the proof was signed/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('leaves the source/dest check alone for a down (only a node about to get the VIP needs it off)', async () => {
    const harness = createMemoryHarness();
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'down', stsEndpoint: MEMORY_STS_ENDPOINT });

    const result = await harness.invoke(envelope(signed, harness.world));

    expect(result.sourceDestCheckDisabled).toBe(false);
    expect(instanceOf(harness, node1).sourceDestCheck).toBe(true);
  });

  it('rejects when the source/dest check is on and the cluster must not manage it', async () => {
    const strict = createMemoryHarness({
      configure: (world) => ({ clusters: [{ ...world.config.clusters[0], manageSourceDestCheck: false }] }),
    });
    const [node1] = strict.world.instances;

    const { result } = await up(strict, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^source\/destination check is enabled on eni-/);
    expect(await strict.routeTargets()).toEqual({ [firstTable(strict)]: null });
  });

  it('fails with a configuration reason when the VIP lies inside the VPC CIDR', async () => {
    const harness = createMemoryHarness({ vip: '198.18.200.50' });

    const { result } = await up(harness, harness.world.instances[0], { vip: '198.18.200.50' });

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('configuration');
    expect(result.reason).toMatch(/VIP 198\.18\.200\.50 of cluster ".*" is inside CIDR 198\.18\.0\.0\/16/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('fails naming the route table that cannot be changed, and a retry of the same request converges', async () => {
    // Prepare: one table answers its route write with an error once.
    const harness = createMemoryHarness({ routeTableCount: 3 });
    const broken = harness.world.routeTableIds[1] as string;
    const { routeTables } = harness.ports;
    const point = routeTables.pointVipRoute.bind(routeTables);
    let failures = 1;
    routeTables.pointVipRoute = async (change) => {
      if (change.routeTableId === broken && failures > 0) {
        failures -= 1;
        throw new MemoryAwsError('RequestLimitExceeded', 'Request limit exceeded.');
      }
      return await point(change);
    };
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'up', stsEndpoint: MEMORY_STS_ENDPOINT });
    const event = envelope(signed, harness.world);

    // Act
    const first = await harness.invoke(event);
    const retry = await harness.invoke(event);

    // Assess
    expect(first.outcome).toBe('failed');
    expect(first.failedStep).toBe('route');
    expect(first.reason).toBe(`route table ${broken}: RequestLimitExceeded: Request limit exceeded.`);
    expect(first.routes.find((route) => route.routeTableId === broken)).toMatchObject({ before: null, after: null });
    expect(retry.outcome).toBe('applied');
    expect(retry.attempts).toBe(2);
    expect(retry.routes.map((route) => route.change)).toEqual(['keep', 'create', 'keep']);
    expect(Object.values(await harness.routeTargets())).toEqual([node1?.eni, node1?.eni, node1?.eni]);
    expect(await harness.request(signed.requestId)).toMatchObject({ status: 'applied', attempts: 2 });
  });

  it('fails when a configured route table does not exist, naming it', async () => {
    const misconfigured = createMemoryHarness({
      configure: (world) => ({
        clusters: [{ ...world.config.clusters[0], routeTables: [...world.routeTableIds, 'rtb-0123456789abcdef0'] }],
      }),
    });

    const { result } = await up(misconfigured, misconfigured.world.instances[0]);

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('configuration');
    expect(result.reason).toContain('rtb-0123456789abcdef0');
  });

  it('replaces a route that another tool created to an instance id', async () => {
    const harness = createMemoryHarness();
    const [node1, node2] = harness.world.instances;
    harness.aws.putRoute(firstTable(harness), vipCidr('198.19.0.50'), `instance:${node1?.instanceId}`);

    const { result } = await up(harness, node2);

    expect(result.routes[0]).toMatchObject({ before: `instance:${node1?.instanceId}`, change: 'replace', after: node2?.eni });
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: node2?.eni });
  });
});
