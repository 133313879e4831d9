import { StartInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMoto } from '../kit/moto.ts';
import { reusedWorld } from '../kit/reused-world.ts';
import type { Harness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';

// The local fast path, seen from the controller: a request that says its agent put the VIP on
// its interface itself gets no SSM add; the other members are fenced through SSM all the same.

let moto: ReturnType<typeof sharedMoto>;
beforeAll(() => {
  moto = sharedMoto();
});
afterAll(async () => {
  await moto?.stop();
});
/** The specs share one world of three members, reset between them (commands are told apart by request id). */
const threeMembers = reusedWorld(() => moto.endpoint);

async function send(harness: Harness, index: number, action: 'up' | 'down', localAddress: boolean, issuedAt = new Date()) {
  const instance = harness.world.instances[index];
  if (instance === undefined) throw new Error(`no instance ${index}`);
  const detail = await signedDetail(harness.world, instance, {
    action,
    issuedAt,
    stsEndpoint: moto.endpoint,
    ...(localAddress ? { detail: { localAddress: true } } : {}),
  });
  return { detail, result: await harness.invoke(envelope(detail, harness.world)) };
}

/** The SSM commands moto recorded for one request (the comment names the request id). */
async function commandsFor(harness: Harness, requestId: string): Promise<string[]> {
  const listed = await harness.clients.ssm.send(new ListCommandsCommand({}));
  return (listed.Commands ?? []).map((command) => command.Comment ?? '').filter((comment) => comment.endsWith(`request ${requestId}`));
}

describe('Function: switchover handler with the local fast path (against moto)', () => {
  it('sends no SSM add to a sender whose agent added the VIP itself, and still fences the other members', async () => {
    // Prepare
    const harness = await threeMembers();
    const [node1, node2, node3] = harness.world.instances;
    await send(harness, 0, 'up', false, new Date(Date.now() - 2000));
    // Act
    const { detail, result } = await send(harness, 1, 'up', true);
    // Assess
    expect(result.outcome).toBe('applied');
    expect(result.routes[0]).toMatchObject({ before: node1?.eni, after: node2?.eni, change: 'replace' });
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2?.eni });
    expect(result.ssmCommands).toEqual([expect.objectContaining({ purpose: 'remove', status: 'Sent' })]);
    expect(result.ssmCommands[0]?.instanceIds.sort()).toEqual([node1?.instanceId, node3?.instanceId].sort());
    expect(await commandsFor(harness, detail.requestId)).toEqual([`pgpool-vip fence ${detail.vip} request ${detail.requestId}`]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'applied', instanceId: node2?.instanceId });
  });

  it('still adds the VIP through SSM when the request does not say the agent added it', async () => {
    const harness = await threeMembers();
    const [node1] = harness.world.instances;

    const { detail, result } = await send(harness, 0, 'up', false);

    expect(result.outcome).toBe('applied');
    expect(result.ssmCommands).toEqual([
      expect.objectContaining({ purpose: 'add', instanceIds: [node1?.instanceId], status: 'Success' }),
      expect.objectContaining({ purpose: 'remove', status: 'Sent' }),
    ]);
    expect((await commandsFor(harness, detail.requestId)).sort()).toEqual(
      [`pgpool-vip add ${detail.vip} request ${detail.requestId}`, `pgpool-vip fence ${detail.vip} request ${detail.requestId}`].sort(),
    );
  });

  it('sends no SSM command at all on a first up from an agent that added the VIP, with no other member running', async () => {
    const harness = await threeMembers();
    // The other members stopped (not a world of its own: that costs moto far more calls), started again for the later specs.
    const others = harness.world.instances.slice(1).map((instance) => instance.instanceId);
    await harness.clients.ec2.send(new StopInstancesCommand({ InstanceIds: others }));
    try {
      const { detail, result } = await send(harness, 0, 'up', true);

      expect(result.outcome).toBe('applied');
      expect(result.ssmCommands).toEqual([]);
      expect(await commandsFor(harness, detail.requestId)).toEqual([]);
    } finally {
      await harness.clients.ec2.send(new StartInstancesCommand({ InstanceIds: others }));
    }
  });

  it('refuses a down that claims a local add, and changes nothing', async () => {
    const harness = await threeMembers();
    const [node1] = harness.world.instances;
    await send(harness, 0, 'up', false, new Date(Date.now() - 2000));
    const routesBefore = await harness.routeTargets();

    const { detail, result } = await send(harness, 0, 'down', true);

    expect(result.outcome).toBe('rejected');
    expect(result.failedStep).toBe('parse');
    expect(result.reason).toMatch(/detail\.localAddress.*only for an up/);
    expect(await harness.routeTargets()).toEqual(routesBefore);
    expect(await harness.vip()).toMatchObject({ holderInstanceId: node1?.instanceId, released: false });
    expect(await commandsFor(harness, detail.requestId)).toEqual([]);
  });

  it('refuses a request whose local-add claim was added after signing: the digest covers it', async () => {
    const harness = await threeMembers();
    const instance = harness.world.instances[0];
    if (instance === undefined) throw new Error('no instance');
    const signed = await signedDetail(harness.world, instance, { action: 'up', stsEndpoint: moto.endpoint });

    const result = await harness.invoke(envelope({ ...signed, localAddress: true }, harness.world));

    expect(result.outcome).toBe('rejected');
    expect(result.failedStep).toBe('verify');
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: null });
    expect(await commandsFor(harness, signed.requestId)).toEqual([]);
  });
});
