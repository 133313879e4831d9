import { spawn } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AgentConfigInput } from '../agent/config.ts';
import { finished } from './child-output.ts';
import { startImdsServer, type ImdsServer } from './imds-server.ts';
import type { World, WorldInstance } from './world.ts';
import { buildAgent } from '../scripts/build-agent.ts';

/** A simulated pgpool node: its own IMDS, its agent config file, the environment pgpool would give the agent. */
export interface AgentNode {
  instance: WorldInstance;
  imds: ImdsServer;
  configPath: string;
  env: Record<string, string>;
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  /** stderr without the progress lines (a wait can pass 2 s on a loaded machine): what pgpool logs as a problem. */
  stderr: string;
  /** The `still waiting after` lines the agent writes while a wait lasts longer than 2 s. */
  progress: string[];
}

const PROGRESS_LINE = /^pgpool-vip: still waiting after \d+\.\d s for .+; giving up in \d+\.\d s$/;

/** stderr without the agent's progress lines, which a loaded machine adds to any wait. */
export function withoutProgress(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !PROGRESS_LINE.test(line))
    .join('\n');
}

/** Builds the shipped single-file agent into a temporary directory; returns its path and a cleanup. */
export async function buildAgentBundle(): Promise<{ bundle: string; bytes: number; dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-agent-'));
  const { outfile, bytes } = await buildAgent(join(dir, 'pgpool-vip.mjs'));
  return { bundle: outfile, bytes, dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface NodeOptions {
  awsEndpoint: string;
  /** Directory for the config file. */
  dir: string;
  config?: Partial<AgentConfigInput>;
  /** Address the IMDS server listens on (loopback by default). */
  imdsHost?: string;
  /** Look up the instance's MAC instead of the interface's (the host's `lo` is no ENI). */
  macOverride?: boolean;
  extraEnv?: Record<string, string>;
}

/** Starts the node's IMDS and writes its agent config. */
export async function startAgentNode(world: World, index: number, options: NodeOptions): Promise<AgentNode> {
  const instance = world.instances[index];
  if (instance === undefined) throw new Error(`world has no instance ${index}`);
  const cluster = world.config.clusters[0];
  if (cluster === undefined) throw new Error('world has no cluster');
  const imds = await startImdsServer({
    instance,
    region: world.region,
    roleName: world.roleName,
    accountId: world.accountId,
    vpcId: world.vpcId,
    ...(options.imdsHost === undefined ? {} : { host: options.imdsHost }),
  });
  const configPath = join(options.dir, `agent-${instance.instanceId}-${Math.random().toString(16).slice(2, 8)}.json`);
  const config: AgentConfigInput = {
    cluster: cluster.name,
    vip: cluster.vip,
    bus: world.busName,
    ledgerTable: world.ledgerTable,
    pollIntervalMs: 100,
    ...options.config,
  };
  await writeFile(configPath, JSON.stringify(config));
  return {
    instance,
    imds,
    configPath,
    env: {
      ...agentBaseEnv(options.awsEndpoint, imds.endpoint),
      PGPOOL_VIP_AGENT_CONFIG: configPath,
      ...(options.macOverride === false ? {} : { PGPOOL_VIP_INTERFACE_MAC: instance.mac }),
      ...options.extraEnv,
    },
  };
}

/**
 * The environment of a pgpool child on a node: no AWS keys, no profiles (a test that wants
 * them adds them), and nothing that quiets the SDK: the agent itself must keep stderr clean.
 */
export function agentBaseEnv(awsEndpoint: string, imdsEndpoint: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_ENDPOINT_URL: awsEndpoint,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsEndpoint,
    AWS_CONFIG_FILE: '/nonexistent/pgpool-vip-test/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/pgpool-vip-test/credentials',
  };
}

/** Runs the agent as pgpool does (execv, no shell); optionally inside a network namespace. */
export async function runAgent(
  bundle: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { netns?: string; killAfterMs?: number; node?: string } = {},
): Promise<AgentRun> {
  const node = options.node ?? process.execPath;
  const [command, argv] =
    options.netns === undefined ? [node, [bundle, ...args]] : ['ip', ['netns', 'exec', options.netns, node, bundle, ...args]];
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // A safety net for the test run only: the agent's own deadline is what is under test.
  const guard = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 90_000);
  const { status: code, stdout, stderr } = await finished(child);
  clearTimeout(guard);
  const lines = stderr.split('\n');
  return {
    code,
    stdout,
    stderr: lines.filter((line) => !PROGRESS_LINE.test(line)).join('\n'),
    progress: lines.filter((line) => PROGRESS_LINE.test(line)),
  };
}

/** Every request event waiting in the world's request queue (read without deleting for long). */
export async function queuedRequests(sqs: SQSClient, queueUrl: string): Promise<unknown[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
  );
  return (received.Messages ?? []).map((message) => JSON.parse(message.Body ?? 'null') as unknown);
}

export interface EventBridgeProxy {
  endpoint: string;
  /** One entry per PutEvents seen: refused here (`throttled`) or passed on to moto (`forwarded`). */
  putEvents: ('throttled' | 'forwarded')[];
  stop(): Promise<void>;
}

/**
 * A loopback stand-in for the EventBridge endpoint (AWS_ENDPOINT_URL_EVENTBRIDGE): answers the
 * first `refusals` PutEvents the way EventBridge does under throttling (HTTP 200 with
 * FailedEntryCount 1), forwards everything else to moto, and tells when a PutEvents arrived.
 */
export async function startEventBridgeProxy(
  target: string,
  options: { refusals?: number; onPutEvents?: () => void } = {},
): Promise<EventBridgeProxy> {
  const putEvents: EventBridgeProxy['putEvents'] = [];
  const upstream = new URL(target);
  const server = createServer((incoming, outgoing) => {
    const isPut = String(incoming.headers['x-amz-target'] ?? '').endsWith('.PutEvents');
    if (isPut) options.onPutEvents?.();
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      if (isPut && putEvents.filter((entry) => entry === 'throttled').length < (options.refusals ?? 0)) {
        putEvents.push('throttled');
        outgoing.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        outgoing.end(JSON.stringify({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }] }));
        return;
      }
      if (isPut) putEvents.push('forwarded');
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forward.on('error', () => outgoing.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    putEvents,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
