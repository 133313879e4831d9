import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { destroyClients, motoClientConfig } from '../../local/aws-clients.ts';
import { createLocalController, requestEnvelope } from '../../local/controller.ts';
import { queuedRequests } from '../../local/agent-node.ts';
import { OUTCOME_SOURCE, REQUEST_DETAIL_TYPE, REQUEST_SOURCE } from '../../lib/contract.ts';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import type { LatencyModel } from '../../local/front-door/latency-profile.ts';
import { sharedMoto } from '../kit/moto.ts';
import { createWorld, type World } from '../../local/world.ts';
import { motoClients } from '../../local/aws-clients.ts';
import { sendAddressCommand } from '../../functions/adapters/ssm-address.ts';

/** A model that adds a fixed, known delay to EC2 reads and holds SSM delivery for a minute. */
const fixedModel: LatencyModel = {
  name: 'fixed',
  callDelayMs: (kind) => (kind === 'ec2-read' ? 40 : 0),
  hookDelayMs: (kind) => (kind === 'ssm-delivery' ? 60_000 : 0),
};

let moto: ReturnType<typeof sharedMoto>;
let door: AwsFrontDoor;
const table = `front-door-${process.pid}`;
/** One moto world for the specs that need one: the SSM spec sends commands only, the push spec puts the only events on its bus. */
let world: Promise<World> | undefined;
const fileWorld = (): Promise<World> => {
  world ??= (async () => {
    const clients = motoClients(moto.endpoint);
    try {
      return await createWorld(clients, { prefix: `fd${process.pid}-` });
    } finally {
      destroyClients(clients);
    }
  })();
  return world;
};

beforeAll(async () => {
  moto = sharedMoto();
  door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint, latency: fixedModel });
  await new DynamoDBClient(motoClientConfig(moto.endpoint)).send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
});
afterAll(async () => {
  await door?.stop();
  await moto?.stop();
});
beforeEach(() => {
  door.clearFaults();
  door.clearCalls();
});

const config = () => motoClientConfig(door.endpoint);
const errorOf = async (work: Promise<unknown>): Promise<{ name: string; status: number | undefined }> => {
  try {
    await work;
  } catch (error) {
    return { name: (error as Error).name, status: (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
};

describe('AWS front door: throttling and server errors in each service\'s own shape', () => {
  it.each([
    ['ec2', 'DescribeVpcs', 'throttle', undefined, () => new EC2Client(config()).send(new DescribeVpcsCommand({})), 'RequestLimitExceeded', 503],
    ['ec2', 'DescribeVpcs', 'server-error', undefined, () => new EC2Client(config()).send(new DescribeVpcsCommand({})), 'InternalError', 500],
    ['dynamodb', 'GetItem', 'throttle', undefined, () => new DynamoDBClient(config()).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } })), 'ThrottlingException', 400],
    ['dynamodb', 'GetItem', 'throttle', 'ProvisionedThroughputExceededException', () => new DynamoDBClient(config()).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } })), 'ProvisionedThroughputExceededException', 400],
    ['dynamodb', 'GetItem', 'server-error', undefined, () => new DynamoDBClient(config()).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } })), 'InternalServerError', 500],
    ['sts', 'GetCallerIdentity', 'throttle', undefined, () => new STSClient(config()).send(new GetCallerIdentityCommand({})), 'Throttling', 400],
    ['ssm', 'GetCommandInvocation', 'throttle', undefined, () => new SSMClient(config()).send(new GetCommandInvocationCommand({ CommandId: 'c', InstanceId: 'i-0' })), 'ThrottlingException', 400],
    ['events', 'PutEvents', 'server-error', undefined, () => new EventBridgeClient(config()).send(new PutEventsCommand({ Entries: [] })), 'InternalException', 500],
  ] as const)('%s %s %s %s answers %s', async (service, operation, fault, code, call, name, status) => {
    door.inject({ service, operation, fault, ...(code === undefined ? {} : { code }) });

    expect(await errorOf(call())).toEqual({ name, status });
    expect(door.calls.map((record) => [record.service, record.operation, record.fault, record.status])).toEqual([[service, operation, fault, status]]);
  });

  it('lets calls through after the given number of faults', async () => {
    door.inject({ service: 'ec2', operation: 'DescribeVpcs', fault: 'throttle', times: 2 });
    const ec2 = new EC2Client(config());

    await errorOf(ec2.send(new DescribeVpcsCommand({})));
    await errorOf(ec2.send(new DescribeVpcsCommand({})));
    const third = await ec2.send(new DescribeVpcsCommand({}));

    expect(third.Vpcs?.length).toBeGreaterThan(0);
  });
});

describe('AWS front door: dropped connections', () => {
  it('drops before the call reaches moto: nothing is written', async () => {
    door.inject({ service: 'dynamodb', operation: 'PutItem', fault: 'drop-before' });
    const put = new DynamoDBClient(config()).send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'before' } } }));

    await errorOf(put);

    const read = await new DynamoDBClient(motoClientConfig(moto.endpoint)).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'before' } } }));
    expect(read.Item).toBeUndefined();
  });

  it('drops after the call took effect in moto: the write is there, the caller got no answer', async () => {
    door.inject({ service: 'dynamodb', operation: 'PutItem', fault: 'drop-after' });
    const put = new DynamoDBClient(config()).send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'after' } } }));

    await errorOf(put);

    const read = await new DynamoDBClient(motoClientConfig(moto.endpoint)).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'after' } } }));
    expect(read.Item?.pk?.S).toBe('after');
    expect(door.calls.at(-1)).toMatchObject({ operation: 'PutItem', fault: 'drop-after', status: null });
  });
});

describe('AWS front door: latency model and SSM', () => {
  it('adds the model\'s delay per call kind and records it', async () => {
    await new EC2Client(config()).send(new DescribeVpcsCommand({}));
    await new DynamoDBClient(config()).send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'x' } } }));

    expect(door.calls.map((record) => [record.operation, record.modelledMs])).toEqual([
      ['DescribeVpcs', 40],
      ['GetItem', 0],
    ]);
    expect((door.calls[0]?.endedAt ?? 0) - (door.calls[0]?.startedAt ?? 0)).toBeGreaterThanOrEqual(40);
  });

  it('answers an invocation InProgress until the modelled delivery, and Failed or InProgress for ever when told', async () => {
    const world = await fileWorld();
    const ssm = new SSMClient(config());
    const node = world.instances[0];
    if (node === undefined) throw new Error('no instance');
    const send = () =>
      sendAddressCommand(ssm, { document: world.documentName, action: 'add', vip: '198.19.0.50', iface: 'eth0', instanceIds: [node.instanceId] });
    const statusOf = async (commandId: string) =>
      (await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: node.instanceId }))).Status;

    const undelivered = await send();
    door.inject({ service: 'ssm', operation: 'SendCommand', fault: 'ssm-command-failed' });
    const failing = await send();

    expect(await statusOf(undelivered)).toBe('InProgress');
    expect(await statusOf(failing)).toBe('Failed');
    expect(door.sentCommands.get(undelivered)).toMatchObject({ instanceIds: [node.instanceId], documentName: world.documentName });
  });
});

describe('AWS front door: request events pushed to the local controller, as EventBridge invokes a Lambda target', () => {
  it('hands each accepted request event over the moment the bus took it, in the envelope the rule gives the queue; other events are not requests', async () => {
    const clients = motoClients(moto.endpoint);
    const world = await fileWorld();
    const results: SwitchoverResult[] = [];
    const controller = createLocalController({ endpoint: door.endpoint, world, delivery: 'push', onResult: (result) => results.push(result) });
    const envelopes: Array<Record<string, unknown>> = [];
    door.onAcceptedEvents((events, acceptedAt) => {
      for (const event of events) {
        const envelope = requestEnvelope(world, event, acceptedAt);
        if (envelope === null) continue;
        envelopes.push(envelope);
        controller.deliver(envelope, acceptedAt);
      }
    });
    const requestId = randomUUID();
    const bus = new EventBridgeClient(config());
    try {
      // Not signed: the handler refuses it, and that refusal is the sign it got there.
      await bus.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: world.busName, Source: REQUEST_SOURCE, DetailType: REQUEST_DETAIL_TYPE, Detail: JSON.stringify({ requestId, action: 'up' }) },
            { EventBusName: world.busName, Source: OUTCOME_SOURCE, DetailType: 'VIP Switchover Applied', Detail: JSON.stringify({ requestId }) },
          ],
        }),
      );
      await controller.stop();
      const queued = await queuedRequests(clients.sqs, world.requestQueueUrl);

      expect(results.map((result) => [result.requestId, result.outcome])).toEqual([[requestId, 'rejected']]);
      // The rule's copy stays in the queue, unread: nothing polled it.
      expect(queued).toHaveLength(1);
      const { time: _pushedTime, ...pushed } = envelopes[0] ?? {};
      const { time: _queuedTime, ...copied } = queued[0] as Record<string, unknown>;
      expect(envelopes).toHaveLength(1);
      // Every field of moto's copy (its id is the EventId PutEvents answered), and the account EventBridge adds.
      expect(pushed).toEqual({ ...copied, account: world.accountId });
      expect(copied).toMatchObject({ source: REQUEST_SOURCE, 'detail-type': REQUEST_DETAIL_TYPE, detail: { requestId, action: 'up' } });
    } finally {
      door.onAcceptedEvents(null);
      bus.destroy();
      destroyClients(clients);
    }
  });
});
