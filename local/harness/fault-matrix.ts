import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { BatchWriteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DeleteRouteCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { controllerClientSettings, stsProofTransport } from '../../functions/adapters/client-settings.ts';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { destroyClients, motoClients, MOTO_REGION, MOTO_ROOT_CREDENTIALS } from '../aws-clients.ts';
import type { AwsFrontDoor, FaultRule } from '../front-door/front-door.ts';
import { envelope, signedDetail } from '../requests.ts';
import type { World, WorldInstance } from '../world.ts';
import { createHarness, type Harness } from './controller-harness.ts';

/** One AWS call of the controller's `up` and `down` paths, as the front door names it. */
export interface MatrixCall {
  service: string;
  operation: string;
  /** What the controller uses it for. */
  role: string;
  /** The paths that make the call (a fault on the `down` path is injected just before the down). */
  paths: ReadonlyArray<'up' | 'down'>;
  /** The `up` that first makes the call: 0 the first up (create), 1 the takeover (replace). */
  upStep?: 0 | 1;
}

export const MATRIX_CALLS: readonly MatrixCall[] = [
  { service: 'sts', operation: 'GetCallerIdentity', role: 'proof replay', paths: ['up', 'down'] },
  { service: 'dynamodb', operation: 'UpdateItem', role: 'claim alone, routed mark', paths: ['up', 'down'] },
  { service: 'dynamodb', operation: 'TransactWriteItems', role: 'claim + VIP record', paths: ['up', 'down'] },
  { service: 'dynamodb', operation: 'GetItem', role: 'VIP record read', paths: ['up', 'down'] },
  { service: 'dynamodb', operation: 'PutItem', role: 'VIP record, outcome', paths: ['up', 'down'] },
  { service: 'ec2', operation: 'DescribeInstances', role: 'members', paths: ['up', 'down'] },
  { service: 'ec2', operation: 'DescribeRouteTables', role: 'routes', paths: ['up', 'down'] },
  { service: 'ec2', operation: 'DescribeVpcs', role: 'VPC check', paths: ['up'] },
  { service: 'ec2', operation: 'ModifyNetworkInterfaceAttribute', role: 'source/dest check', paths: ['up'] },
  { service: 'ec2', operation: 'CreateRoute', role: 'first route', paths: ['up'] },
  { service: 'ec2', operation: 'ReplaceRoute', role: 'move route', paths: ['up'], upStep: 1 },
  { service: 'ssm', operation: 'SendCommand', role: 'add, remove, fence', paths: ['up', 'down'] },
  { service: 'ssm', operation: 'GetCommandInvocation', role: 'wait for the script', paths: ['up', 'down'] },
  { service: 'events', operation: 'PutEvents', role: 'outcome event', paths: ['up', 'down'] },
];

/** Faults every call gets; `timeout` holds the call longer than the clients' request timeout. */
export const MATRIX_FAULTS = ['throttle', 'server-error', 'drop-before', 'drop-after', 'timeout'] as const;
/** Faults of SSM commands (on SendCommand): the script fails, or the instance never answers. */
export const SSM_COMMAND_FAULTS = ['ssm-command-failed', 'ssm-command-hangs'] as const;
export type MatrixFault = (typeof MATRIX_FAULTS)[number] | (typeof SSM_COMMAND_FAULTS)[number];

/** Longer than REQUEST_TIMEOUT_MS of the controller's clients. */
const HANG_MS = 4_000;
/** How long a cell waits, after its last request, for calls the front door still holds. */
const SETTLE_WITHIN_MS = HANG_MS + 10_000;
/** The agent sends a failed request again within its deadline; at most this many sends per request. */
const AGENT_SENDS = 3;

export interface MatrixCell {
  call: MatrixCall;
  fault: MatrixFault;
  path: 'up' | 'down';
  /** 'once': the first matching call fails; 'always': every matching call of that request fails. */
  persistence: 'once' | 'always';
}

export interface CellResult {
  cell: MatrixCell;
  /** Every check held. */
  ok: boolean;
  /** What went wrong, when not ok. */
  problems: string[];
  /** Final outcome of each request (up node1, up node2, down node2), with its number of sends. */
  outcomes: Array<{ outcome: string; sends: number; totalMs: number }>;
  /** Times the fault was injected. */
  injected: number;
  /** Calls of the faulted operation that went through the front door (retries included). */
  callsOfOperation: number;
  /** Outcome events seen on the bus per request. */
  outcomeEvents: number[];
  wallMs: number;
  /**
   * What a failed cell leaves to explain it: each send's outcome and its time in the cell, the
   * cell's DynamoDB calls and calls of the faulted operation as the front door saw them (start,
   * end, answer, fault), and the ledger's records of the requests and of the VIP. Empty when ok.
   */
  trace: string[];
  /** The world the cell ran in, for the next cell to reuse. */
  world: World;
}

function ruleFor(cell: MatrixCell): FaultRule {
  const times = cell.persistence === 'once' ? 1 : Number.POSITIVE_INFINITY;
  const base = { service: cell.call.service, operation: cell.call.operation, times };
  if (cell.fault === 'timeout') return { ...base, fault: 'delay', delayMs: HANG_MS };
  return { ...base, fault: cell.fault };
}

/**
 * Runs one cell: a fresh world and a fresh controller container (production retry settings)
 * behind the front door; node 1 takes the VIP, node 2 takes it over, node 2 releases it. The
 * fault hits the cell's call on the cell's path. A request that ends `failed` is sent again, as
 * the agent does. Checks: every request ends with its expected outcome and exactly one final
 * record in the ledger, the routes and the VIP record end where a run without faults leaves them.
 */
export async function runCell(motoEndpoint: string, door: AwsFrontDoor, cell: MatrixCell, reuse?: World): Promise<CellResult> {
  const started = Date.now();
  door.clearFaults();
  if (reuse !== undefined) await resetWorld(motoEndpoint, reuse);
  const clientConfig = { ...controllerClientSettings(), endpoint: door.endpoint, region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS };
  const harness = await createHarness(motoEndpoint, {
    routeTableCount: 3,
    ...(reuse === undefined ? {} : { world: reuse }),
    configure: () => ({ ssmWaitSeconds: 2 }),
    deps: {
      ec2: new EC2Client(clientConfig),
      ssm: new SSMClient(clientConfig),
      dynamodb: new DynamoDBClient(clientConfig),
      eventbridge: new EventBridgeClient(clientConfig),
      stsHttp: stsProofTransport(),
    },
    stsEndpoint: door.endpoint,
  });
  const [node1, node2] = harness.world.instances as [WorldInstance, WorldInstance];
  const steps: Array<{ node: WorldInstance; action: 'up' | 'down'; expected: string[] }> = [
    // A resent up finds the routes already moved by its failed first attempt: noop.
    { node: node1, action: 'up', expected: ['applied', 'noop'] },
    { node: node2, action: 'up', expected: ['applied', 'noop'] },
    // After a dropped answer to the release, the resent down finds the VIP already released.
    { node: node2, action: 'down', expected: ['applied', 'noop'] },
  ];
  const problems: string[] = [];
  const outcomes: CellResult['outcomes'] = [];
  const requestIds: string[] = [];
  const rule = ruleFor(cell);
  const sendsSeen: string[] = [];
  const at = (time: number) => `${(time - started).toString().padStart(6)} ms`;
  door.clearCalls();
  for (const [index, step] of steps.entries()) {
    const faulted = (cell.path === 'up' && index === (cell.call.upStep ?? 0)) || (cell.path === 'down' && index === 2);
    if (faulted) door.inject(rule);
    const detail = await signedDetail(harness.world, step.node, { action: step.action, stsEndpoint: door.endpoint });
    requestIds.push(detail.requestId);
    const event = envelope(detail, harness.world);
    let result: SwitchoverResult | null = null;
    let sends = 0;
    while (sends < AGENT_SENDS) {
      sends += 1;
      const sentAt = Date.now();
      try {
        result = await harness.invoke(event);
        sendsSeen.push(`${at(sentAt)} .. ${at(Date.now())}  step ${index + 1} send ${sends}: ${result.outcome}${result.failedStep === null ? '' : ` at ${result.failedStep}`}${result.reason === null ? '' : `: ${result.reason}`}`);
      } catch (error) {
        sendsSeen.push(`${at(sentAt)} .. ${at(Date.now())}  step ${index + 1} send ${sends}: threw ${(error as Error).message}`);
        // The invocation itself failed (the ledger could not take the outcome): Lambda's
        // asynchronous retry, or the agent's resend, delivers it again.
        problems.push(`step ${index + 1} send ${sends} threw: ${(error as Error).message}`);
        result = null;
        if (cell.persistence === 'always' && faulted) door.clearFaults();
        continue;
      }
      if (result.outcome !== 'failed') break;
      // An 'always' fault stays until the request has failed once; then the cause goes away.
      if (cell.persistence === 'always' && faulted) door.clearFaults();
    }
    if (faulted) door.clearFaults();
    if (result === null) {
      problems.push(`step ${index + 1} (${step.action} ${step.node.name}): no outcome after ${sends} sends`);
      outcomes.push({ outcome: 'none', sends, totalMs: 0 });
      continue;
    }
    outcomes.push({ outcome: result.outcome, sends, totalMs: result.totalMs });
    if (!step.expected.includes(result.outcome) || (result.outcome === 'noop' && sends === 1)) {
      problems.push(`step ${index + 1} (${step.action} ${step.node.name}) ended ${result.outcome}: ${result.reason ?? ''}`);
    }
    const record = await harness.request(detail.requestId);
    if (record === null) problems.push(`step ${index + 1}: no ledger record`);
    else if (record.status !== result.outcome) problems.push(`step ${index + 1}: ledger says ${record.status}, the invocation ${result.outcome}`);
  }
  // A call held past the clients' timeout reaches moto after they gave up on it: it lands in this
  // cell's world and counts in its checks, not in the next cell's (whose reset removed what would
  // have refused it: a held claim of the previous cell once wrote its VIP record there).
  if (!(await callsSettled(door, SETTLE_WITHIN_MS))) problems.push(`a call through the front door was still under way ${SETTLE_WITHIN_MS} ms after the last request`);
  const injected = door.calls.filter((call) => call.fault !== null).length;
  const callsOfOperation = door.calls.filter((call) => call.service === cell.call.service && call.operation === cell.call.operation).length;

  const routes = await harness.routeTargets();
  if (!Object.values(routes).every((target) => target === node2.eni)) problems.push(`routes end at ${JSON.stringify(routes)}, not ${node2.eni}`);
  const vip = await harness.vip();
  if (vip?.holderInstanceId !== node2.instanceId || vip.released !== true) {
    problems.push(`VIP record ends ${JSON.stringify({ holder: vip?.holderInstanceId, released: vip?.released })}`);
  }
  const outcomeEvents = await outcomeEventsPerRequest(harness, requestIds);
  if (injected === 0) problems.push('the fault was never injected (the call is not on this path)');
  const failed = problems.length > 0 && injected > 0;
  const trace = failed ? [...sendsSeen, ...callTrace(door, cell, at), ...(await ledgerTrace(harness, requestIds))] : [];
  return { cell, ok: problems.length === 0, problems, outcomes, injected, callsOfOperation, outcomeEvents, wallMs: Date.now() - started, trace, world: harness.world };
}

/** Whether every call through the door has ended (moto answered it, or its connection was dropped) within `withinMs`. */
async function callsSettled(door: AwsFrontDoor, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (door.calls.some((call) => call.endedAt === 0)) {
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** The cell's DynamoDB calls and the calls of its faulted operation, in the order they started. */
function callTrace(door: AwsFrontDoor, cell: MatrixCell, at: (time: number) => string): string[] {
  return door.calls
    .filter((call) => call.service === 'dynamodb' || (call.service === cell.call.service && call.operation === cell.call.operation))
    .map((call) => {
      const ended = call.endedAt === 0 ? 'still under way' : `${at(call.endedAt)} (${call.endedAt - call.startedAt} ms)`;
      return `${at(call.startedAt)} .. ${ended}  ${call.service}:${call.operation} answered ${call.status ?? 'nothing'}${call.fault === null ? '' : `, fault ${call.fault}`}`;
    });
}

/** The ledger's records of the cell's requests and of the VIP, as they ended. */
async function ledgerTrace(harness: Harness, requestIds: string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const [index, requestId] of requestIds.entries()) {
    const record = await harness.request(requestId);
    lines.push(
      record === null
        ? `step ${index + 1} request ${requestId}: no record`
        : `step ${index + 1} request ${requestId}: ${record.status}, attempts ${record.attempts ?? '-'}, claim ${record.claimToken ?? '-'}, recorded ${record.recordedAt ?? '-'}`,
    );
  }
  const vip = await harness.vip();
  lines.push(`VIP record: ${vip === null ? 'none' : `version ${vip.version}, holder ${vip.holderInstanceId}, released ${vip.released}, request ${vip.upRequestId}`}`);
  return lines;
}

/**
 * Puts a world back as createWorld left it, so cells can share one (creating a world costs
 * seconds): an empty ledger, no VIP route, every member's source/dest check on. The ledger is
 * emptied, not only of its VIP record: moto copies the whole table for every transaction, so
 * records left by earlier cells made each claim slower, cell after cell, until under load claims
 * ran past the clients' request timeout and were sent again.
 */
export async function resetWorld(motoEndpoint: string, world: World): Promise<void> {
  const clients = motoClients(motoEndpoint);
  const cluster = world.config.clusters[0];
  if (cluster === undefined) throw new Error('world has no cluster');
  await emptyTable(clients.dynamodb, world.ledgerTable);
  for (const routeTableId of world.routeTableIds) {
    try {
      await clients.ec2.send(new DeleteRouteCommand({ RouteTableId: routeTableId, DestinationCidrBlock: `${cluster.vip}/32` }));
    } catch (error) {
      if ((error as Error).name !== 'InvalidRoute.NotFound') throw error;
    }
  }
  for (const instance of world.instances) {
    await clients.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: instance.eni, SourceDestCheck: { Value: true } }));
  }
  destroyClients(clients);
}

/** Deletes every item of a table whose key is `pk`. */
async function emptyTable(dynamodb: DynamoDBClient, table: string): Promise<void> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: table, ProjectionExpression: 'pk', ...(start === undefined ? {} : { ExclusiveStartKey: start }) }));
    const keys = (page.Items ?? []).map((item) => ({ pk: item.pk as AttributeValue }));
    for (let first = 0; first < keys.length; first += 25) {
      const deletes = keys.slice(first, first + 25).map((key) => ({ DeleteRequest: { Key: key } }));
      await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: deletes } }));
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
}

/** Outcome events the bus delivered for each request (read from the world's outcome queue). */
async function outcomeEventsPerRequest(harness: Harness, requestIds: string[]): Promise<number[]> {
  const counts = new Map<string, number>();
  for (;;) {
    const received = await harness.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: harness.world.outcomeQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) break;
    for (const message of messages) {
      const requestId = (JSON.parse(message.Body ?? '{}') as { detail?: { requestId?: string } }).detail?.requestId ?? '';
      counts.set(requestId, (counts.get(requestId) ?? 0) + 1);
    }
    // The page's messages deleted in one call (at most 10, as received), not one call each.
    const deleted = await harness.clients.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: harness.world.outcomeQueueUrl,
        Entries: messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
      }),
    );
    if ((deleted.Failed ?? []).length > 0) throw new Error(`outcome queue: ${JSON.stringify(deleted.Failed)}`);
  }
  return requestIds.map((id) => counts.get(id) ?? 0);
}

/** Every cell of the matrix: each call x each fault on each of its paths, plus SSM command faults. */
export function allCells(persistence: MatrixCell['persistence']): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const call of MATRIX_CALLS) {
    for (const path of call.paths) {
      for (const fault of MATRIX_FAULTS) cells.push({ call, fault, path, persistence });
      if (call.operation === 'SendCommand') for (const fault of SSM_COMMAND_FAULTS) cells.push({ call, fault, path, persistence });
    }
  }
  return cells;
}

export function describeCell(cell: MatrixCell): string {
  return `${cell.call.service}:${cell.call.operation} (${cell.call.role}) ${cell.path} ${cell.fault} ${cell.persistence}`;
}
