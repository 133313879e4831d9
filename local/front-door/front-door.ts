import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { callKindOf, classifyCall, errorAnswer, type AwsCall } from './aws-call.ts';
import { NO_LATENCY, type LatencyModel } from './latency-profile.ts';

/** What an SSM SendCommand asked for, as sent (moto's own record lists every instance). */
export interface SentCommand {
  commandId: string;
  instanceIds: string[];
  documentName: string;
  parameters: Record<string, string[]>;
  /** When moto accepted the command (ms since the epoch). */
  sentAt: number;
  /** When the script starts on the instances under the latency model (sentAt plus SSM delivery). */
  startsAt: number;
}

/**
 * A fault to inject into matching calls. `operation` '*' matches every operation of the service.
 * - throttle: the service's own throttling error (EC2 RequestLimitExceeded, DynamoDB ThrottlingException...);
 * - server-error: the service's own 5xx;
 * - delay: `delayMs` more before the call reaches moto;
 * - drop-before: the connection is closed before the call reaches moto (nothing happened);
 * - drop-after: the call reaches moto and takes effect, then the connection is closed unanswered;
 * - ssm-command-failed / ssm-command-hangs (on SendCommand): the command is accepted, then its
 *   invocations end Failed, or stay InProgress for ever (an instance that never answers).
 */
export const FAULT_KINDS = ['throttle', 'server-error', 'delay', 'drop-before', 'drop-after', 'ssm-command-failed', 'ssm-command-hangs'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  service: string;
  operation: string;
  fault: FaultKind;
  /** How many matching calls get the fault (default 1; Infinity for all). */
  times?: number;
  /** Matching calls let through unharmed before the first fault (default 0). */
  skip?: number;
  delayMs?: number;
  /** Another error code of the service for throttle/server-error (ProvisionedThroughputExceededException). */
  code?: string;
}

/** One call that went through the front door. */
export interface CallRecord extends AwsCall {
  fault: FaultKind | null;
  /** HTTP status answered, or null when the connection was dropped. */
  status: number | null;
  startedAt: number;
  endedAt: number;
  /** Delay the latency model added. */
  modelledMs: number;
}

/** One event EventBridge accepted from a PutEvents that went through the front door. */
export interface AcceptedEvent {
  eventId: string;
  eventBusName: string | undefined;
  source: string;
  detailType: string;
  /** The entry's Detail as sent (JSON text). */
  detail: string;
}

export interface AwsFrontDoor {
  endpoint: string;
  /**
   * Calls `listener` with the events of each PutEvents moto accepted, as soon as it answered
   * (before the modelled second half of the call's latency): what EventBridge pushes to a rule's
   * target. null stops it.
   */
  onAcceptedEvents(listener: ((events: AcceptedEvent[], acceptedAt: number) => void) | null): void;
  /**
   * Calls `listener` with each call moto answered, as soon as it answered (the call has taken
   * effect there), with the SSM command it accepted and the request's body: what the drill's VPC
   * router and SSM stand-in follow instead of polling moto. null stops it.
   */
  onAnswered(listener: ((call: AwsCall, status: number, command: SentCommand | null, body: Buffer) => void) | null): void;
  /** SendCommand requests seen so far, by command id. */
  readonly sentCommands: ReadonlyMap<string, SentCommand>;
  /** Every call so far, in the order they started (endedAt 0 while under way). */
  readonly calls: readonly CallRecord[];
  readonly latency: LatencyModel;
  /** Adds a fault rule; rules are matched in the order they were added. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  clearCalls(): void;
  stop(): Promise<void>;
}

export interface FrontDoorOptions {
  host: string;
  motoEndpoint: string;
  /** Delays per call and for SSM delivery; none (moto's own speed) by default. */
  latency?: LatencyModel;
}

const SendCommandRequestSchema = z.object({
  InstanceIds: z.array(z.string()).default([]),
  DocumentName: z.string(),
  Parameters: z.record(z.string(), z.array(z.string())).default({}),
});
const SendCommandResponseSchema = z.object({ Command: z.object({ CommandId: z.string() }) });
const InvocationRequestSchema = z.object({ CommandId: z.string(), InstanceId: z.string() });
const PutEventsRequestSchema = z.object({
  Entries: z.array(z.object({ EventBusName: z.string().optional(), Source: z.string(), DetailType: z.string(), Detail: z.string() })),
});
const PutEventsResponseSchema = z.object({ Entries: z.array(z.object({ EventId: z.string().optional() })) });

type CommandFate = 'failed' | 'hangs';

const sleep = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms)));

/**
 * The AWS endpoint of the drill, the tests and the benches: a proxy in front of moto_server that
 * - adds each service's latency from a profile (half before the call reaches moto, half after);
 * - injects faults in each service's own error shapes, and drops connections before or after
 *   the call took effect;
 * - keeps the instance ids of each SSM SendCommand (moto adds every instance of the account to a
 *   command sent with InstanceIds only, so its own record cannot tell where a command must run),
 *   and answers GetCommandInvocation InProgress until the modelled SSM delivery has passed (moto
 *   reports Success at once).
 */
export async function startAwsFrontDoor(options: FrontDoorOptions): Promise<AwsFrontDoor> {
  const moto = new URL(options.motoEndpoint);
  const latency = options.latency ?? NO_LATENCY;
  const sentCommands = new Map<string, SentCommand>();
  const fates = new Map<string, CommandFate>();
  const calls: CallRecord[] = [];
  const rules: Array<FaultRule & { seen: number; used: number }> = [];
  let acceptedListener: ((events: AcceptedEvent[], acceptedAt: number) => void) | null = null;
  let answeredListener: ((call: AwsCall, status: number, command: SentCommand | null, body: Buffer) => void) | null = null;

  function faultFor(call: AwsCall): FaultRule | null {
    for (const rule of rules) {
      if (rule.service !== call.service || (rule.operation !== '*' && rule.operation !== call.operation)) continue;
      if (rule.used >= (rule.times ?? 1)) continue;
      rule.seen += 1;
      if (rule.seen <= (rule.skip ?? 0)) continue;
      rule.used += 1;
      return rule;
    }
    return null;
  }

  async function handle(incoming: IncomingMessage, outgoing: ServerResponse, body: Buffer): Promise<void> {
    const call = classifyCall(incoming.headers, body);
    const kind = callKindOf(call);
    const modelledMs = kind === null ? 0 : latency.callDelayMs(kind);
    const fault = faultFor(call);
    const record: CallRecord = { ...call, fault: fault?.fault ?? null, status: null, startedAt: Date.now(), endedAt: 0, modelledMs };
    calls.push(record);
    const finish = (status: number | null): void => {
      record.status = status;
      record.endedAt = Date.now();
    };
    await sleep(modelledMs / 2 + (fault?.fault === 'delay' ? (fault.delayMs ?? 1000) : 0));

    if (fault?.fault === 'throttle' || fault?.fault === 'server-error') {
      const answer = errorAnswer(call, fault.fault, randomUUID(), fault.code);
      await sleep(modelledMs / 2);
      outgoing.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
      outgoing.end(answer.body);
      finish(answer.status);
      return;
    }
    if (fault?.fault === 'drop-before') {
      incoming.socket.destroy();
      finish(null);
      return;
    }

    let answer: { status: number; headers: IncomingMessage['headers']; body: Buffer };
    try {
      answer = await forward(moto, incoming, body);
    } catch (error) {
      const text = `moto unreachable: ${(error as Error).message}`;
      outgoing.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      outgoing.end(text);
      finish(502);
      return;
    }
    let sent: string | null = null;
    if (call.service === 'ssm' && call.operation === 'SendCommand' && answer.status === 200) {
      sent = recordSendCommand(sentCommands, body, answer.body, latency);
      if (sent !== null && fault?.fault === 'ssm-command-failed') fates.set(sent, 'failed');
      if (sent !== null && fault?.fault === 'ssm-command-hangs') fates.set(sent, 'hangs');
    }
    answeredListener?.(call, answer.status, sent === null ? null : (sentCommands.get(sent) ?? null), body);
    if (call.service === 'events' && call.operation === 'PutEvents' && answer.status === 200 && acceptedListener !== null) {
      const accepted = acceptedEvents(body, answer.body);
      if (accepted.length > 0) acceptedListener(accepted, Date.now());
    }
    if (call.service === 'ssm' && call.operation === 'GetCommandInvocation' && answer.status === 200) {
      answer = { ...answer, body: invocationAsModelled(body, answer.body, sentCommands, fates) };
    }
    await sleep(modelledMs / 2);
    if (fault?.fault === 'drop-after') {
      incoming.socket.destroy();
      finish(null);
      return;
    }
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(answer.body.length);
    outgoing.writeHead(answer.status, headers);
    outgoing.end(answer.body);
    finish(answer.status);
  }

  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      handle(incoming, outgoing, Buffer.concat(chunks)).catch(() => incoming.socket.destroy());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host}:${port}`,
    sentCommands,
    calls,
    latency,
    onAcceptedEvents(listener) {
      acceptedListener = listener;
    },
    onAnswered(listener) {
      answeredListener = listener;
    },
    inject(rule) {
      rules.push({ ...rule, seen: 0, used: 0 });
    },
    clearFaults() {
      rules.length = 0;
    },
    clearCalls() {
      calls.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function forward(
  moto: URL,
  incoming: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return await new Promise((resolve, reject) => {
    const upstream = httpRequest(
      { host: moto.hostname, port: moto.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function parseJson(buffer: Buffer): unknown {
  try {
    return JSON.parse(buffer.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The entries of a PutEvents that moto accepted (an entry refused in the answer has no EventId). */
function acceptedEvents(requestBody: Buffer, responseBody: Buffer): AcceptedEvent[] {
  const request = PutEventsRequestSchema.safeParse(parseJson(requestBody));
  const response = PutEventsResponseSchema.safeParse(parseJson(responseBody));
  if (!request.success || !response.success) return [];
  return request.data.Entries.flatMap((entry, index) => {
    const eventId = response.data.Entries[index]?.EventId;
    return eventId === undefined
      ? []
      : [{ eventId, eventBusName: entry.EventBusName, source: entry.Source, detailType: entry.DetailType, detail: entry.Detail }];
  });
}

function recordSendCommand(sent: Map<string, SentCommand>, requestBody: Buffer, responseBody: Buffer, latency: LatencyModel): string | null {
  const request = SendCommandRequestSchema.safeParse(parseJson(requestBody));
  const response = SendCommandResponseSchema.safeParse(parseJson(responseBody));
  if (!request.success || !response.success) return null;
  const commandId = response.data.Command.CommandId;
  const sentAt = Date.now();
  sent.set(commandId, {
    commandId,
    instanceIds: request.data.InstanceIds,
    documentName: request.data.DocumentName,
    parameters: request.data.Parameters,
    sentAt,
    startsAt: sentAt + latency.hookDelayMs('ssm-delivery'),
  });
  return commandId;
}

/** moto's invocation answer, with the status the latency model or an injected fault says. */
function invocationAsModelled(
  requestBody: Buffer,
  responseBody: Buffer,
  sent: ReadonlyMap<string, SentCommand>,
  fates: ReadonlyMap<string, CommandFate>,
): Buffer {
  const request = InvocationRequestSchema.safeParse(parseJson(requestBody));
  const answer = parseJson(responseBody);
  if (!request.success || typeof answer !== 'object' || answer === null) return responseBody;
  const fate = fates.get(request.data.CommandId);
  const command = sent.get(request.data.CommandId);
  const started = command === undefined || Date.now() >= command.startsAt;
  let changes: Record<string, unknown> = {};
  if (fate === 'hangs' || (fate === undefined && !started)) {
    changes = { Status: 'InProgress', StatusDetails: 'InProgress', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' };
  } else if (fate === 'failed') {
    changes = { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 1, StandardErrorContent: 'vip-address: ip addr add failed (injected)' };
  }
  return Buffer.from(JSON.stringify({ ...answer, ...changes }));
}
