/**
 * Start-up and end-to-end times of the bundled agent against moto (numbers only, never asserted):
 *   npx tsx bench/agent.ts [runs] [--node /path/to/node ...]
 * For each Node binary (this one by default), in one run, every Node in each round so machine load hits them alike:
 * - bare `node -e 0`, `--version`, and an `up`: start -> PutEvents sent and start -> exit 0, of
 *   the file installed as the README does (no extension) with the code cache written for that
 *   Node (`pgpool-vip code-cache`), and start -> PutEvents sent of the same file without it;
 * - the ratios the agent is held to: `--version` / `node -e 0` (at most 1.5) and
 *   start -> PutEvents sent / `node -e 0` (at most 2);
 * - the machine's load average, since two cores are shared with whatever else runs.
 * Then, on this Node, start -> exit of an `up` the controller rejects (untagged instance).
 * The controller is pushed each request event as the bus accepts it (through the AWS front door,
 * as EventBridge invokes a Lambda target); the agents wait with the product's pollIntervalMs.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyClients, motoClients } from '../local/aws-clients.ts';
import { requestEnvelope, startLocalController, type LocalController } from '../local/controller.ts';
import { startAwsFrontDoor } from '../local/front-door/front-door.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { createWorld, type World } from '../local/world.ts';
import {
  buildAgentBundle,
  runAgent,
  startAgentNode,
  startEventBridgeProxy,
  type AgentNode,
} from '../local/agent-node.ts';

const { values: options, positionals } = parseArgs({ allowPositionals: true, options: { node: { type: 'string', multiple: true } } });
const RUNS = Number(positionals[0] ?? 20);
const NODES = options.node ?? [process.execPath];
const VIP = '198.19.0.50';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

const rows: { measure: string; median: number; min: number; max: number; n: number }[] = [];
function record(measure: string, values: number[]): void {
  if (values.length === 0) return;
  rows.push({ measure, median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length });
}
const ratios: string[] = [];

/** Runs a process to its end; its exit code and the wall time from spawn to close. */
async function timeProcess(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', resolve);
  });
  return { code, ms: performance.now() - started };
}

async function nodeVersion(node: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(node, ['--version']);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', reject);
    child.once('close', () => resolve(text.trim()));
  });
}

// The local controller's EMF metric lines would bury the table.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const loadBefore = loadavg()[0] ?? NaN;
const moto = await startMotoServer();
const clients = motoClients(moto.endpoint);
const bundle = await buildAgentBundle();
const stops: { stop(): Promise<void> }[] = [];
try {
  let sentAt: number | null = null;
  // The agent's PutEvents: marked when it arrives, then through the front door, which pushes the
  // accepted request event to the controller as EventBridge invokes its Lambda target (no queue poll).
  const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
  stops.push(door);
  const proxy = await startEventBridgeProxy(door.endpoint, { onPutEvents: () => (sentAt ??= performance.now()) });
  stops.push(proxy);

  const world = await createWorld(clients, { prefix: 'bench-', instanceCount: 2 });
  const cluster = world.config.clusters[0];
  const controller = startLocalController({ endpoint: moto.endpoint, world, delivery: 'push', configOverrides: { clusters: [{ ...cluster, interface: 'lo' }] } });
  stops.push(controller);
  const pushed: Array<[World, LocalController]> = [[world, controller]];
  door.onAcceptedEvents((events, acceptedAt) => {
    for (const event of events) {
      for (const [target, handler] of pushed) {
        const envelope = requestEnvelope(target, event, acceptedAt);
        if (envelope !== null) handler.deliver(envelope, acceptedAt);
      }
    }
  });
  const nodes: AgentNode[] = [];
  for (const index of [0, 1]) {
    // The product's own ledger wait (pollIntervalMs left at its default).
    const node = await startAgentNode(world, index, {
      awsEndpoint: moto.endpoint,
      dir: bundle.dir,
      config: { pollIntervalMs: 250 },
      extraEnv: { AWS_ENDPOINT_URL_EVENTBRIDGE: proxy.endpoint },
    });
    nodes.push(node);
    stops.push(node.imds);
  }
  const baseEnv = nodes[0]?.env ?? {};

  // The file as the README installs it (/usr/local/bin/pgpool-vip: no extension, so Node's
  // CommonJS loader runs it), with the code cache `pgpool-vip code-cache` writes beside it; and a
  // copy without that cache: what an `up` costs when root skipped that step, or Node was upgraded.
  async function install(folder: string): Promise<string> {
    const file = join(bundle.dir, folder, 'pgpool-vip');
    await mkdir(dirname(file), { recursive: true });
    await copyFile(bundle.bundle, file);
    await chmod(file, 0o755);
    return file;
  }
  // Each Node has its own installed copy, with the code cache that Node wrote beside it.
  const binaries = await Promise.all(
    NODES.map(async (node, index) => ({ node, label: `node ${await nodeVersion(node)}`, installed: await install(`installed-${index}`) })),
  );
  for (const { node, installed } of binaries) {
    const cache = await runAgent(installed, ['code-cache'], baseEnv, { node });
    if (cache.code !== 0) throw new Error(`code-cache on ${node} exited ${cache.code}: ${cache.stderr}`);
  }
  const uncached = await install('uncached');

  /** One `up` or `down` from spawn to exit; the proxy marks when its PutEvents arrived. */
  async function switchover(node: string, agent: AgentNode, action: 'up' | 'down', file: string): Promise<{ sentMs: number | null; exitMs: number }> {
    sentAt = null;
    const started = performance.now();
    const { code, ms } = await timeProcess(node, [file, action, VIP, 'lo', '--no-interface-check'], agent.env);
    if (code !== 0) throw new Error(`${action} on ${node} exited ${code}`);
    return { sentMs: sentAt === null ? null : sentAt - started, exitMs: ms };
  }

  // The first call to each moto service is slow (~2 s): keep it out of the numbers.
  await switchover(process.execPath, nodes[1] as AgentNode, 'up', uncached);
  await switchover(process.execPath, nodes[1] as AgentNode, 'down', uncached);

  const samples = binaries.map(() => ({ bare: [] as number[], version: [] as number[], sent: [] as number[], exit: [] as number[], sentUncached: [] as number[] }));
  for (let run = 0; run < RUNS; run += 1) {
    // Every Node in each round, so a change of the machine's load hits them alike.
    for (const [index, { node, installed }] of binaries.entries()) {
      const sample = samples[index];
      if (sample === undefined) continue;
      sample.bare.push((await timeProcess(node, ['-e', '0'], baseEnv)).ms);
      sample.version.push((await timeProcess(node, [installed, '--version'], baseEnv)).ms);
      // Alternate nodes, releasing between ups: each `up` is a planned switchover, never a
      // takeover the split-brain guard would hold back.
      const agent = nodes[run % 2] as AgentNode;
      const up = await switchover(node, agent, 'up', installed);
      if (up.sentMs !== null) sample.sent.push(up.sentMs);
      sample.exit.push(up.exitMs);
      await switchover(node, agent, 'down', installed);
      const plain = await switchover(node, agent, 'up', uncached);
      if (plain.sentMs !== null) sample.sentUncached.push(plain.sentMs);
      await switchover(node, agent, 'down', uncached);
    }
  }
  for (const [index, { label }] of binaries.entries()) {
    const { bare, version, sent, exit, sentUncached } = samples[index] ?? { bare: [], version: [], sent: [], exit: [], sentUncached: [] };
    record(`${label}: node -e 0`, bare);
    record(`${label}: --version`, version);
    record(`${label}: up, start -> PutEvents sent`, sent);
    record(`${label}: up, start -> exit 0 (applied)`, exit);
    record(`${label}: up without the code cache, start -> PutEvents sent`, sentUncached);
    ratios.push(
      `${label}: --version / node -e 0 = ${(median(version) / median(bare)).toFixed(2)} (target <= 1.5); ` +
        `start -> PutEvents sent / node -e 0 = ${(median(sent) / median(bare)).toFixed(2)} (target <= 2; ` +
        `${(median(sentUncached) / median(bare)).toFixed(2)} without the code cache)`,
    );
  }

  const untagged: World = await createWorld(clients, { prefix: 'bench-untagged-', instanceCount: 1, tagMembers: false });
  const refusing = startLocalController({
    endpoint: moto.endpoint,
    world: untagged,
    delivery: 'push',
    configOverrides: { clusters: [{ ...untagged.config.clusters[0], interface: 'lo' }] },
  });
  stops.push(refusing);
  pushed.push([untagged, refusing]);
  const outsider = await startAgentNode(untagged, 0, {
    awsEndpoint: moto.endpoint,
    dir: bundle.dir,
    config: { pollIntervalMs: 250 },
    extraEnv: { AWS_ENDPOINT_URL_EVENTBRIDGE: proxy.endpoint },
  });
  stops.push(outsider.imds);
  const rejected: number[] = [];
  for (let run = 0; run < Math.min(RUNS, 10); run += 1) {
    const started = performance.now();
    const result = await runAgent(bundle.bundle, ['up', VIP, 'lo', '--no-interface-check'], outsider.env);
    if (result.code !== 1) throw new Error(`rejected up exited ${result.code}: ${result.stderr}`);
    rejected.push(performance.now() - started);
  }
  record(`node ${process.version}: up, start -> exit 1 (rejected: untagged)`, rejected);

  const width = Math.max(...rows.map((row) => row.measure.length));
  console.log(
    `agent timings against moto on loopback (ms; ${RUNS} runs unless n says otherwise; ` +
      `bundle ${(bundle.bytes / 1024).toFixed(0)} KiB; load average ${loadBefore.toFixed(1)} -> ${(loadavg()[0] ?? NaN).toFixed(1)})`,
  );
  console.log(`${'measure'.padEnd(width)}  median     min     max   n`);
  for (const row of rows) {
    console.log(
      `${row.measure.padEnd(width)}  ${row.median.toFixed(0).padStart(6)}  ${row.min.toFixed(0).padStart(6)}  ${row.max.toFixed(0).padStart(6)}  ${String(row.n).padStart(2)}`,
    );
  }
  for (const line of ratios) console.log(line);
} finally {
  for (const thing of stops.reverse()) await thing.stop();
  destroyClients(clients);
  await moto.stop();
  await bundle.remove();
}
