import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_HISTORY_INDEX } from '../../lib/ledger-records.ts';
import { motoClients, type AwsClients } from '../../local/aws-clients.ts';
import type { Harness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';
import { reusedWorld } from '../kit/reused-world.ts';

// A dry run against moto: the controller verifies, validates and decides, records one outcome
// marked as a dry run, and changes nothing: no VIP record, no route, no SSM command, no
// source/dest check. Its controller's EC2 and SSM clients count every write call.

let moto: ReturnType<typeof sharedMoto>;
beforeAll(() => {
  moto = sharedMoto();
});
afterAll(async () => {
  await moto?.stop();
});

/** The specs share one world, reset between them; each gets clients of its own that count its writes. */
const world = reusedWorld(() => moto.endpoint);

const WRITES = new Set(['CreateRouteCommand', 'ReplaceRouteCommand', 'DeleteRouteCommand', 'ModifyNetworkInterfaceAttributeCommand', 'SendCommandCommand']);

async function countingHarness(): Promise<{ harness: Harness; writes: string[] }> {
  const writes: string[] = [];
  const clients: AwsClients = motoClients(moto.endpoint);
  clients.ec2.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITES.has(context.commandName ?? '')) writes.push(context.commandName ?? '');
      return await next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  clients.ssm.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITES.has(context.commandName ?? '')) writes.push(context.commandName ?? '');
      return await next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  return { harness: await world({ deps: { ec2: clients.ec2, ssm: clients.ssm } }), writes };
}

async function send(harness: Harness, instance: WorldInstance | undefined, action: 'up' | 'down', dryRun: boolean, issuedAt?: Date) {
  if (instance === undefined) throw new Error('no instance');
  const detail = await signedDetail(harness.world, instance, { action, stsEndpoint: moto.endpoint, ...(issuedAt ? { issuedAt } : {}), ...(dryRun ? { detail: { dryRun: true } } : {}) });
  return { detail, result: await harness.invoke(envelope(detail, harness.world)) };
}

/** The cluster's outcomes in the ledger's history index. */
async function history(harness: Harness) {
  const answer = await harness.clients.dynamodb.send(
    new QueryCommand({
      TableName: harness.world.ledgerTable,
      IndexName: LEDGER_HISTORY_INDEX,
      KeyConditionExpression: '#cluster = :cluster',
      ExpressionAttributeNames: { '#cluster': 'cluster' },
      ExpressionAttributeValues: { ':cluster': { S: harness.world.config.clusters[0]?.name ?? '' } },
    }),
  );
  return answer.Items ?? [];
}

async function sourceDestCheck(harness: Harness, eni: string | undefined) {
  const answer = await harness.clients.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni ?? ''] }));
  return answer.NetworkInterfaces?.[0]?.SourceDestCheck;
}

describe('Function: switchover handler, dry run (against moto)', () => {
  it('reports the takeover it would make, and leaves routes, VIP record, SSM and the source/dest check untouched', async () => {
    const { harness, writes } = await countingHarness();
    const [node1, node2, node3] = harness.world.instances;
    await send(harness, node1, 'up', false, new Date(Date.now() - 2000));
    const routesBefore = await harness.routeTargets();
    const vipBefore = await harness.vip();
    const historyBefore = (await history(harness)).length;
    const writesBefore = writes.length;
    // The counter sees the controller's writes: the real up's route write and SSM commands.
    expect(writes).toEqual(expect.arrayContaining(['CreateRouteCommand', 'SendCommandCommand']));

    const { detail, result } = await send(harness, node2, 'up', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, reason: null, holderBefore: node1?.instanceId, holderAfter: node2?.instanceId, sourceDestCheckDisabled: false });
    expect(result.routes).toEqual([{ routeTableId: harness.world.routeTableIds[0], before: node1?.eni, after: node2?.eni, change: 'replace' }]);
    const [add, fence] = result.ssmCommands;
    expect(add).toEqual({ purpose: 'add', commandId: 'none', instanceIds: [node2?.instanceId], status: 'NotSent' });
    expect({ ...fence, instanceIds: [...(fence?.instanceIds ?? [])].sort() }).toEqual({ purpose: 'remove', commandId: 'none', instanceIds: [node1?.instanceId, node3?.instanceId].sort(), status: 'NotSent' });
    expect(writes.slice(writesBefore)).toEqual([]);
    expect(await harness.routeTargets()).toEqual(routesBefore);
    expect(await harness.vip()).toEqual(vipBefore);
    expect(await sourceDestCheck(harness, node2?.eni)).toBe(true);
    // One outcome in the ledger, the way the agent waits for it, marked as a dry run.
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'applied', dryRun: true, holderAfter: node2?.instanceId, routes: result.routes });
    expect((await history(harness)).length).toBe(historyBefore + 1);
  });

  it('writes no VIP record for a dry run of the first up, so the first real up is still the first', async () => {
    const { harness, writes } = await countingHarness();
    const [node1] = harness.world.instances;

    const { result } = await send(harness, node1, 'up', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, holderBefore: null, holderAfter: node1?.instanceId });
    expect(result.routes).toEqual([{ routeTableId: harness.world.routeTableIds[0], before: null, after: node1?.eni, change: 'create' }]);
    expect(writes).toEqual([]);
    expect(await harness.vip()).toBeNull();
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: null });

    const real = await send(harness, node1, 'up', false);
    expect(real.result).toMatchObject({ outcome: 'applied', dryRun: false, holderBefore: null });
    expect(real.result.routes[0]?.change).toBe('create');
  });

  it('reports a down of the holder as the VIP off its interface, and records no release', async () => {
    const { harness, writes } = await countingHarness();
    const [node1] = harness.world.instances;
    await send(harness, node1, 'up', false, new Date(Date.now() - 2000));
    const vipBefore = await harness.vip();
    const writesBefore = writes.length;

    const { result } = await send(harness, node1, 'down', true);

    expect(result).toMatchObject({ outcome: 'applied', dryRun: true, routes: [], holderAfter: null });
    expect(result.ssmCommands).toEqual([{ purpose: 'remove', commandId: 'none', instanceIds: [node1?.instanceId], status: 'NotSent' }]);
    expect(writes.slice(writesBefore)).toEqual([]);
    expect(await harness.vip()).toEqual(vipBefore);
  });

  it('answers stale with the reason when the real run would be refused as stale', async () => {
    const { harness, writes } = await countingHarness();
    const [node1, node2] = harness.world.instances;
    const start = Date.now();
    await send(harness, node1, 'up', false, new Date(start - 5000));
    await send(harness, node1, 'down', false, new Date(start - 2000));
    await send(harness, node2, 'up', false, new Date(start - 1000));
    const writesBefore = writes.length;

    const { detail, result } = await send(harness, node1, 'up', true, new Date(start - 3000));

    expect(result).toMatchObject({ outcome: 'stale', dryRun: true, routes: [], ssmCommands: [] });
    expect(result.reason).toMatch(/older than this instance's own later down/);
    expect(writes.slice(writesBefore)).toEqual([]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'stale', dryRun: true });
  });
});
