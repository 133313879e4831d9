import { createServer, type Server, type Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerClientSettings, REQUEST_TIMEOUT_MS, stsProofTransport } from '../../functions/adapters/client-settings.ts';
import { underDeadline } from '../../functions/invocation-deadline.ts';
import { MOTO_REGION, MOTO_ROOT_CREDENTIALS } from '../../local/aws-clients.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';

/**
 * Lambda's timeout of the invocations that are cut off: their steps get 7 s of it, the outcome
 * record the last 3 s. An up's steps take a fraction of a second on a quiet machine, and over 4 s
 * with two copies of the agent tests running at once (load 13). The invocations that only set a
 * world up or apply a redelivery have the local context's 30 s: nothing in them is waited out.
 */
const TIMEOUT_MS = 10_000;
/** Longer than the whole invocation: a call that never answers, as far as the controller can tell. */
const HUNG_MS = 60_000;

let moto: ReturnType<typeof sharedMoto>;
const doors: AwsFrontDoor[] = [];

beforeAll(() => {
  moto = sharedMoto();
});
afterAll(async () => {
  for (const door of doors) await door.stop();
});

/**
 * A controller whose calls all pass its own front door: faults apply to every call through a
 * door, so each test has one (and a world) of its own and the tests wait out their deadlines
 * side by side.
 */
async function cutOffStage(): Promise<{ door: AwsFrontDoor; harness: Harness; cutOff: Harness }> {
  const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
  doors.push(door);
  const settings = { ...controllerClientSettings(), endpoint: door.endpoint, region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS };
  const options = {
    routeTableCount: 3,
    configure: () => ({ ssmWaitSeconds: 2 }),
    deps: {
      ec2: new EC2Client(settings),
      ssm: new SSMClient(settings),
      dynamodb: new DynamoDBClient(settings),
      eventbridge: new EventBridgeClient(settings),
      stsHttp: stsProofTransport(),
    },
    stsEndpoint: door.endpoint,
  };
  const harness = await createHarness(moto.endpoint, options);
  // The same controller on the same world and clients, invoked with TIMEOUT_MS left.
  const cutOff = await createHarness(moto.endpoint, { ...options, world: harness.world, invocationTimeoutMs: TIMEOUT_MS });
  return { door, harness, cutOff };
}

async function upEvent(door: AwsFrontDoor, harness: Harness, node: WorldInstance) {
  const detail = await signedDetail(harness.world, node, { action: 'up', stsEndpoint: door.endpoint });
  return { requestId: detail.requestId, event: envelope(detail, harness.world) };
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

describe.concurrent('A switchover cut off by its deadline (real controller clients, front door before moto)', () => {
  it('stops a hung route write at the deadline, records one failed outcome before the timeout, and a redelivery applies', async () => {
    const { door, harness, cutOff } = await cutOffStage();
    const [node1, node2] = harness.world.instances as [WorldInstance, WorldInstance];
    expect((await harness.invoke((await upEvent(door, harness, node1)).event)).outcome).toBe('applied');

    // Every ReplaceRoute hangs far past the invocation's timeout, retries included.
    door.inject({ service: 'ec2', operation: 'ReplaceRoute', fault: 'delay', delayMs: HUNG_MS, times: Number.POSITIVE_INFINITY });
    const { requestId, event } = await upEvent(door, harness, node2);
    const cut = await timed(cutOff.invoke(event));
    door.clearFaults();

    expect(cut.value).toMatchObject({ outcome: 'failed', failedStep: 'route' });
    expect(cut.value.reason).toMatch(/out of time: stopped 3000 ms before the invocation's timeout/);
    expect(cut.ms).toBeLessThan(TIMEOUT_MS);
    expect((await harness.request(requestId))?.status).toBe('failed');

    // The agent sends the same request again: it is claimed again, decided again and applied.
    const again = await harness.invoke(event);
    expect(again.outcome).toBe('applied');
    expect((await harness.request(requestId))?.status).toBe('applied');
    expect(Object.values(await harness.routeTargets())).toEqual(harness.world.routeTableIds.map(() => node2.eni));
  });

  it('returns the recorded outcome when only the outcome event hangs past the timeout', async () => {
    const { door, harness, cutOff } = await cutOffStage();
    const node3 = harness.world.instances[2] as WorldInstance;
    door.inject({ service: 'events', operation: 'PutEvents', fault: 'delay', delayMs: HUNG_MS, times: Number.POSITIVE_INFINITY });
    const { requestId, event } = await upEvent(door, harness, node3);
    const ended = await timed(cutOff.invoke(event));
    door.clearFaults();

    expect(ended.value.outcome).toBe('applied');
    expect(ended.ms).toBeLessThan(TIMEOUT_MS);
    expect((await harness.request(requestId))?.status).toBe('applied');
  });

  it('ends the invocation with its own error, before the timeout, when the ledger does not take the outcome', async () => {
    const { door, harness, cutOff } = await cutOffStage();
    const [node1] = harness.world.instances as [WorldInstance, WorldInstance];
    // The outcome is the request's PutItem; the claim and the VIP record are one transaction.
    door.inject({ service: 'dynamodb', operation: 'PutItem', fault: 'delay', delayMs: HUNG_MS, times: Number.POSITIVE_INFINITY });
    const { requestId, event } = await upEvent(door, harness, node1);
    const started = performance.now();
    await expect(cutOff.invoke(event)).rejects.toThrow(/could not be recorded before the invocation's timeout/);
    const ms = performance.now() - started;
    door.clearFaults();
    expect(ms).toBeLessThan(TIMEOUT_MS);
    // No outcome: the claim stays until its lease ends, then a redelivery may take it over.
    expect((await harness.request(requestId))?.status).toBe('claimed');
  });
});

describe('The controller\'s HTTP handler', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts connections and never answers: a call that hangs.
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('aborts a call at the deadline of the invocation that made it, well before its own timeouts', async () => {
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const ec2 = new EC2Client({ ...controllerClientSettings(), endpoint: `http://127.0.0.1:${address.port}`, region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS });
    const started = performance.now();
    const call = underDeadline({ signal: AbortSignal.timeout(300) }, () => ec2.send(new DescribeVpcsCommand({})));
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS);
    ec2.destroy();
  });
});
