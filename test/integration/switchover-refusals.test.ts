import {
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeNetworkInterfacesCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  DeleteTagsCommand,
  CreateRouteCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_TAG_KEY } from '../../lib/cluster-config.ts';
import { sharedMoto } from '../kit/moto.ts';
import { instanceRoleCredentials, describeInstance, type WorldInstance } from '../../local/world.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { countingSts } from '../support/counting-sts.ts';
import { envelope, signedDetail } from '../../local/requests.ts';

let moto: ReturnType<typeof sharedMoto>;
beforeAll(() => {
  moto = sharedMoto();
});
afterAll(async () => {
  await moto?.stop();
});

async function up(harness: Harness, instance: WorldInstance | undefined, detail: Record<string, unknown> = {}) {
  if (instance === undefined) throw new Error('no instance');
  const signed = await signedDetail(harness.world, instance, { action: 'up', stsEndpoint: moto.endpoint, detail });
  return { detail: signed, result: await harness.invoke(envelope(signed, harness.world)) };
}

const firstTable = (harness: Harness): string => harness.world.routeTableIds[0] as string;

describe('Function: switchover handler refusals (against moto)', () => {
  it('rejects a malformed event naming the field, without asking STS or touching routes', async () => {
    const sts = countingSts();
    const harness = await createHarness(moto.endpoint, { deps: { stsHttp: sts } });
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'up', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope({ ...signed, vip: '198.19.0.500' }, harness.world));

    expect(result.outcome).toBe('rejected');
    expect(result.failedStep).toBe('parse');
    expect(result.reason).toContain('detail.vip: must be a dotted IPv4 address');
    expect(sts.calls).toBe(0);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
    expect(await harness.request(signed.requestId)).toMatchObject({ status: 'rejected' });
  });

  it('rejects an event that is not a switchover request at all', async () => {
    const harness = await createHarness(moto.endpoint);

    const result = await harness.invoke({ id: 'x', source: 'someone.else', 'detail-type': 'Other', detail: {} });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^malformed event: source/);
  });

  it('rejects a request for a VIP the cluster does not own', async () => {
    const harness = await createHarness(moto.endpoint);

    const { result } = await up(harness, harness.world.instances[0], { vip: '198.19.0.99' });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/VIP 198\.19\.0\.99 is not the VIP of cluster/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('rejects a request for a cluster that is not configured', async () => {
    const harness = await createHarness(moto.endpoint);

    const { result } = await up(harness, harness.world.instances[0], { cluster: 'elsewhere' });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe('cluster "elsewhere" is not configured on this controller');
  });

  it('rejects an instance without the member tag', async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1] = harness.world.instances;
    await harness.clients.ec2.send(
      new DeleteTagsCommand({ Resources: [node1?.instanceId as string], Tags: [{ Key: MEMBER_TAG_KEY }] }),
    );

    const { detail, result } = await up(harness, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toContain(`instance ${node1?.instanceId} is not a member of cluster`);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'rejected', failedStep: 'validate' });
  });

  it('rejects a stopped instance', async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1] = harness.world.instances;
    await harness.clients.ec2.send(new StopInstancesCommand({ InstanceIds: [node1?.instanceId as string] }));

    const { result } = await up(harness, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`instance ${node1?.instanceId} is stopped, not running`);
  });

  it('rejects a tagged instance in another VPC', async () => {
    const harness = await createHarness(moto.endpoint);
    const { ec2 } = harness.clients;
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '198.18.0.0/16' }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc?.VpcId, CidrBlock: '198.18.9.0/24' }));
    const run = await ec2.send(
      new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, SubnetId: subnet.Subnet?.SubnetId }),
    );
    const instanceId = run.Instances?.[0]?.InstanceId as string;
    await ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: MEMBER_TAG_KEY, Value: harness.world.config.clusters[0]?.name }] }));
    const described = await describeInstance(harness.clients, instanceId);
    const stranger: WorldInstance = {
      name: 'stranger',
      instanceId,
      eni: described.NetworkInterfaces?.[0]?.NetworkInterfaceId as string,
      mac: '',
      privateIp: '198.18.9.10',
      subnetId: subnet.Subnet?.SubnetId as string,
      availabilityZone: 'us-east-1a',
      credentials: await instanceRoleCredentials(harness.clients, harness.world.roleName, instanceId),
    };

    const { result } = await up(harness, stranger);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`instance ${instanceId} is in ${vpc.Vpc?.VpcId}, not in ${harness.world.vpcId} of the cluster's route tables`);
  });

  it("rejects an ENI that is not attached to the sender (another member's ENI)", async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1, node2] = harness.world.instances;

    const { result } = await up(harness, node1, { eni: node2?.eni });

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe(`${node2?.eni} is not attached to instance ${node1?.instanceId}`);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('disables the source/dest check on the ENI when the cluster allows it, and audits it', async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1] = harness.world.instances;

    const { result } = await up(harness, node1);

    expect(result.outcome).toBe('applied');
    expect(result.sourceDestCheckDisabled).toBe(true);
    const eni = await harness.clients.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [node1?.eni as string] }));
    expect(eni.NetworkInterfaces?.[0]?.SourceDestCheck).toBe(false);
  });

  it('rejects an issuedAt that is not the time the proof was signed (requests are ordered by it)', async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1] = harness.world.instances;
    const signingDate = new Date();
    const signed = await signedDetail(harness.world, node1 as WorldInstance, {
      action: 'up',
      stsEndpoint: moto.endpoint,
      signingDate,
      issuedAt: new Date(signingDate.getTime() + 30_000),
    });

    const result = await harness.invoke(envelope(signed, harness.world));

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^issuedAt .* is not the time the proof was signed/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('leaves the source/dest check alone for a down (only a node about to get the VIP needs it off)', async () => {
    const harness = await createHarness(moto.endpoint);
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'down', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope(signed, harness.world));

    expect(result.sourceDestCheckDisabled).toBe(false);
    const eni = await harness.clients.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [node1?.eni as string] }));
    expect(eni.NetworkInterfaces?.[0]?.SourceDestCheck).toBe(true);
  });

  it('rejects when the source/dest check is on and the cluster must not manage it', async () => {
    const strict = await createHarness(moto.endpoint, {
      configure: (world) => ({ clusters: [{ ...world.config.clusters[0], manageSourceDestCheck: false }] }),
    });
    const [node1] = strict.world.instances;

    const { result } = await up(strict, node1);

    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/^source\/destination check is enabled on eni-/);
    expect(await strict.routeTargets()).toEqual({ [firstTable(strict)]: null });
  });

  it('fails with a configuration reason when the VIP lies inside the VPC CIDR', async () => {
    const harness = await createHarness(moto.endpoint, { vip: '198.18.200.50' });

    const { result } = await up(harness, harness.world.instances[0], { vip: '198.18.200.50' });

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('configuration');
    expect(result.reason).toMatch(/VIP 198\.18\.200\.50 of cluster ".*" is inside CIDR 198\.18\.0\.0\/16/);
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: null });
  });

  it('fails naming the route table that cannot be changed, and a retry of the same request converges', async () => {
    // Prepare: one table answers CreateRoute with an error once (moto cannot fail a single table).
    const harness = await createHarness(moto.endpoint, { routeTableCount: 3 });
    const broken = harness.world.routeTableIds[1] as string;
    let failures = 1;
    harness.clients.ec2.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { RouteTableId?: string };
        if (input.RouteTableId === broken && failures > 0 && (args.input) && 'DestinationCidrBlock' in (args.input)) {
          failures -= 1;
          throw Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failOneTable' },
    );
    const [node1] = harness.world.instances;
    const signed = await signedDetail(harness.world, node1 as WorldInstance, { action: 'up', stsEndpoint: moto.endpoint });
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
    const misconfigured = await createHarness(moto.endpoint, {
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
    const harness = await createHarness(moto.endpoint);
    const [node1, node2] = harness.world.instances;
    await harness.clients.ec2.send(
      new CreateRouteCommand({ RouteTableId: firstTable(harness), DestinationCidrBlock: '198.19.0.50/32', InstanceId: node1?.instanceId }),
    );

    const { result } = await up(harness, node2);

    expect(result.routes[0]).toMatchObject({ before: `instance:${node1?.instanceId}`, change: 'replace', after: node2?.eni });
    expect(await harness.routeTargets()).toEqual({ [firstTable(harness)]: node2?.eni });
  });
});
