import { createLogger } from '../functions/logger.ts';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';
import type { Context } from 'aws-lambda';
import { parseControllerConfig } from '../lib/cluster-config.ts';
import { awsSwitchoverPorts } from '../functions/adapters/aws-ports.ts';
import { createSwitchoverHandler, type SwitchoverResult } from '../functions/switchover/switchover-flow.ts';
import { motoClients, type AwsClients } from './aws-clients.ts';
import type { World } from './world.ts';
import { NO_LATENCY, type LatencyModel } from './front-door/latency-profile.ts';
import type { AcceptedEvent } from './front-door/front-door.ts';
import { REQUEST_DETAIL_TYPE, REQUEST_SOURCE } from '../lib/contract.ts';

export interface LocalControllerOptions {
  endpoint: string;
  world: World;
  /** Changes to the world's cluster configuration (e.g. proofFreshnessSeconds). */
  configOverrides?: Record<string, unknown>;
  logger?: Logger;
  metrics?: Metrics;
  onResult?: (result: SwitchoverResult) => void;
  onError?: (error: unknown) => void;
  /** Idle wait between empty polls of the request queue. */
  pollMs?: number;
  /**
   * How requests reach the handler once started: `queue` (default) polls the request queue the
   * bus's rule fills (what the tests read and replay); `push` leaves the queue alone and takes
   * what is handed to deliver() (the drill: its front door hands over each request event the
   * moment EventBridge accepted it, as EventBridge invokes a Lambda target, with no poll between).
   */
  delivery?: 'queue' | 'push';
  /**
   * EventBridge delivery and Lambda cold init under a latency model: a request is handled no
   * sooner than its delivery delay after it was put on the bus, then after a cold init.
   */
  latency?: LatencyModel;
  /**
   * Environments Lambda keeps initialised ahead (the stage's `switchoverProvisionedConcurrency`):
   * an invocation that finds one free skips the modelled cold init; beyond them, each pays it.
   * 0 (default): every invocation is cold, as after a quiet spell on demand.
   */
  provisionedConcurrency?: number;
  /**
   * Each invocation that pays a cold init runs in a handler of its own, its per-container caches
   * (the VPCs' CIDRs) empty, as in a new Lambda environment; a provisioned environment keeps its
   * handler between invocations. Off: one handler serves every invocation (a warm container).
   */
  freshWhenCold?: boolean;
}

export interface LocalController {
  /** Runs the handler on every request waiting in the queue now; returns their results in order. */
  drain(): Promise<SwitchoverResult[]>;
  /**
   * EventBridge pushing one event to the Lambda target: handled at once (after the modelled
   * delivery and cold init from `putAt`), beside any other in flight, as Lambda runs one
   * invocation per event. With `delivery: 'push'`, the only way requests arrive.
   */
  deliver(event: unknown, putAt: number): void;
  /** Keeps draining in the background until stop(). */
  start(): void;
  stop(): Promise<void>;
  readonly clients: AwsClients;
}

/**
 * A Lambda context good enough for Powertools and middy; the local controller is not in Lambda.
 * Its remaining time counts down from `timeoutMs` from the moment it is made, as Lambda's does
 * from the invocation's start.
 */
export function localContext(timeoutMs = 30_000): Context {
  const endsAt = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'pgpool-vip-switchover-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:pgpool-vip-switchover-local',
    memoryLimitInMB: '256',
    awsRequestId: crypto.randomUUID(),
    logGroupName: '/aws/lambda/pgpool-vip-switchover-local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, endsAt - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The Lambda's handler wired to a world in the emulator: its config, its ledger and bus, and the
 * emulator as STS (proofs are replayed to `endpoint`, through `stsHttp`).
 */
export function worldSwitchoverHandler(
  world: World,
  clients: AwsClients,
  options: {
    endpoint: string;
    stsHttp: HttpHandler;
    configOverrides?: Record<string, unknown> | undefined;
    logger: Logger;
    metrics?: Metrics;
  },
): ReturnType<typeof createSwitchoverHandler> {
  const stsEndpoint = new URL(options.endpoint);
  return createSwitchoverHandler({
    config: parseControllerConfig({ ...world.config, ...options.configOverrides }),
    accountId: world.accountId,
    region: world.region,
    stsEndpoint,
    ports: awsSwitchoverPorts({ ...clients, stsHttp: options.stsHttp }, { ledgerTable: world.ledgerTable, busName: world.busName, stsEndpoint }),
    logger: options.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
}

/**
 * The controller as it runs on this machine: the same handler the Lambda runs, fed with the same
 * EventBridge envelope, taken from the SQS queue the bus's rule delivers to (moto cannot invoke
 * Lambda targets).
 */
export function createLocalController(options: LocalControllerOptions): LocalController {
  const clients = motoClients(options.endpoint);
  const { world } = options;
  const latency = options.latency ?? NO_LATENCY;
  const logger = options.logger ?? createLogger({ logLevel: 'SILENT' });
  const environment = () =>
    worldSwitchoverHandler(world, clients, {
      endpoint: options.endpoint,
      stsHttp: new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 5000 }),
      configOverrides: options.configOverrides,
      logger,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  const handler = environment();

  let running = false;
  let loop: Promise<void> | null = null;
  const inFlight = new Set<Promise<void>>();
  // The provisioned environments not running an invocation now.
  const idle = Array.from({ length: options.provisionedConcurrency ?? 0 }, environment);

  /** Runs one invocation on a provisioned environment when one is free, else after a cold init. */
  async function invoke(event: unknown, putAt: number): Promise<SwitchoverResult> {
    await deliveredAsModelled(latency, putAt);
    const provisioned = idle.pop();
    if (provisioned === undefined) await coldInit(latency);
    const serving = provisioned ?? (options.freshWhenCold === true ? environment() : handler);
    try {
      return await serving(event, localContext());
    } finally {
      if (provisioned !== undefined) idle.push(provisioned);
    }
  }

  async function drain(waitSeconds = 0): Promise<SwitchoverResult[]> {
    const results: SwitchoverResult[] = [];
    for (;;) {
      const received = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: world.requestQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) return results;
      for (const message of messages) {
        const event: unknown = JSON.parse(message.Body ?? 'null');
        const result = await invoke(event, Number(message.Attributes?.SentTimestamp ?? Date.now()));
        results.push(result);
        options.onResult?.(result);
        await clients.sqs.send(
          new DeleteMessageCommand({ QueueUrl: world.requestQueueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
      waitSeconds = 0;
    }
  }

  return {
    clients,
    drain: () => drain(0),
    deliver(event, putAt) {
      const invocation: Promise<void> = (async () => {
        const result = await invoke(event, putAt);
        options.onResult?.(result);
      })()
        .catch((error: unknown) => options.onError?.(error))
        .finally(() => inFlight.delete(invocation));
      inFlight.add(invocation);
    },
    start() {
      if (running || options.delivery === 'push') return;
      running = true;
      loop = (async () => {
        while (running) {
          try {
            const handled = await drain(0);
            if (handled.length === 0) await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
          } catch (error) {
            options.onError?.(error);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      loop = null;
      await Promise.all([...inFlight]);
    },
  };
}

/**
 * The envelope EventBridge gives a request event that the request rule matches (the world's
 * bus, the agent's source and detail type), as moto writes it to the request queue; null for
 * any other event.
 */
export function requestEnvelope(world: Pick<World, 'busName' | 'accountId' | 'region'>, event: AcceptedEvent, acceptedAt: number): Record<string, unknown> | null {
  if (event.source !== REQUEST_SOURCE || event.detailType !== REQUEST_DETAIL_TYPE) return null;
  const bus = event.eventBusName ?? 'default';
  if (bus !== world.busName && !bus.endsWith(`:event-bus/${world.busName}`)) return null;
  let detail: unknown;
  try {
    detail = JSON.parse(event.detail);
  } catch {
    return null;
  }
  return {
    version: '0',
    id: event.eventId,
    'detail-type': event.detailType,
    source: event.source,
    account: world.accountId,
    time: new Date(acceptedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: world.region,
    resources: [],
    detail,
  };
}

/** Waits out EventBridge's delivery from the time the event was put. */
async function deliveredAsModelled(latency: LatencyModel, sentAt: number): Promise<void> {
  const wait = sentAt + latency.hookDelayMs('eventbridge-delivery') - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Waits out a Lambda cold init: an environment that was not initialised ahead. */
async function coldInit(latency: LatencyModel): Promise<void> {
  const wait = latency.hookDelayMs('lambda-cold-init');
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Creates the local controller and starts draining in the background. */
export function startLocalController(options: LocalControllerOptions): LocalController {
  const controller = createLocalController(options);
  controller.start();
  return controller;
}
