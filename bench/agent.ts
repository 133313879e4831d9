/**
 * Start-up and end-to-end times of the agent against moto (numbers only, never asserted):
 *   npx tsx bench/agent.ts [runs]
 * - start -> PutEvents sent, and start -> exit of an `up` (bundled dist file and unbundled tsx),
 * - baselines: bare `node -e 0` and `--version` of both forms,
 * - start -> exit of an `up` the controller rejects (untagged instance).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { destroyClients, motoClients } from '../local/aws-clients.ts';
import { startLocalController } from '../local/controller.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { createWorld, type World } from '../local/world.ts';
import {
  buildAgentBundle,
  runAgent,
  startAgentNode,
  startEventBridgeProxy,
  type AgentNode,
} from '../test/integration/agent-harness.ts';

const RUNS = Number(process.argv[2] ?? 20);
const BIN_TS = fileURLToPath(new URL('../agent/bin.ts', import.meta.url));
const VIP = '198.19.0.50';

interface Sample {
  sentMs: number | null;
  exitMs: number;
}

type Form = { name: string; command: (args: string[]) => [string, string[]] };

const bundled = (bundle: string): Form => ({ name: 'bundled dist/pgpool-vip.mjs', command: (args) => [process.execPath, [bundle, ...args]] });
const unbundled: Form = { name: 'unbundled (node --import tsx)', command: (args) => [process.execPath, ['--import', 'tsx', BIN_TS, ...args]] };

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

async function timeProcess(command: string, args: string[], env: Record<string, string>): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', () => resolve());
  });
  return performance.now() - started;
}

// The local controller's EMF metric lines would bury the table.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const moto = await startMotoServer();
const clients = motoClients(moto.endpoint);
const bundle = await buildAgentBundle();
const stops: { stop(): Promise<void> }[] = [];
try {
  let sentAt: number | null = null;
  const proxy = await startEventBridgeProxy(moto.endpoint, { onPutEvents: () => (sentAt ??= performance.now()) });
  stops.push(proxy);

  const world = await createWorld(clients, { prefix: 'bench-', instanceCount: 2 });
  const cluster = world.config.clusters[0];
  stops.push(startLocalController({ endpoint: moto.endpoint, world, configOverrides: { clusters: [{ ...cluster, interface: 'lo' }] } }));
  const nodes: AgentNode[] = [];
  for (const index of [0, 1]) {
    const node = await startAgentNode(world, index, {
      awsEndpoint: moto.endpoint,
      dir: bundle.dir,
      config: { pollIntervalMs: 50 },
      extraEnv: { AWS_ENDPOINT_URL_EVENTBRIDGE: proxy.endpoint },
    });
    nodes.push(node);
    stops.push(node.imds);
  }
  const baseEnv = nodes[0]?.env ?? {};

  /**
   * One `up` from spawn to exit; the proxy marks when its PutEvents arrived. The node then
   * releases the VIP (untimed), so the next `up` from the other node is a planned switchover, not
   * a takeover the split-brain guard would hold back.
   */
  async function upWith(form: Form, node: AgentNode, label: string): Promise<Sample> {
    const sample = await timedRun(form, node, label, 'up');
    await timedRun(form, node, `${label} (release)`, 'down');
    return sample;
  }

  async function timedRun(form: Form, node: AgentNode, label: string, action: 'up' | 'down'): Promise<Sample> {
    sentAt = null;
    const [command, argv] = form.command([action, VIP, 'lo', '--no-interface-check']);
    const started = performance.now();
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(command, argv, { env: node.env, stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', resolve);
    });
    const exitMs = performance.now() - started;
    if (code !== 0) throw new Error(`${label}: ${action} exited ${code}`);
    return { sentMs: sentAt === null ? null : sentAt - started, exitMs };
  }

  // The first call to each moto service is slow (~2 s): keep it out of the numbers.
  await upWith(bundled(bundle.bundle), nodes[1] as AgentNode, 'warm-up');

  for (const form of [bundled(bundle.bundle), unbundled]) {
    const samples: Sample[] = [];
    for (let run = 0; run < RUNS; run += 1) samples.push(await upWith(form, nodes[run % 2] as AgentNode, form.name));
    record(`${form.name}: start -> PutEvents sent`, samples.flatMap((sample) => (sample.sentMs === null ? [] : [sample.sentMs])));
    record(`${form.name}: start -> exit 0 (up, applied)`, samples.map((sample) => sample.exitMs));
  }

  const bare: number[] = [];
  const versionBundled: number[] = [];
  const versionUnbundled: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    bare.push(await timeProcess(process.execPath, ['-e', '0'], baseEnv));
    versionBundled.push(await timeProcess(...bundled(bundle.bundle).command(['--version']), baseEnv));
    versionUnbundled.push(await timeProcess(...unbundled.command(['--version']), baseEnv));
  }
  record('baseline: node -e 0', bare);
  record('bundled: --version', versionBundled);
  record('unbundled: --version', versionUnbundled);

  const untagged: World = await createWorld(clients, { prefix: 'bench-untagged-', instanceCount: 1, tagMembers: false });
  stops.push(
    startLocalController({
      endpoint: moto.endpoint,
      world: untagged,
      configOverrides: { clusters: [{ ...untagged.config.clusters[0], interface: 'lo' }] },
    }),
  );
  const outsider = await startAgentNode(untagged, 0, { awsEndpoint: moto.endpoint, dir: bundle.dir, config: { pollIntervalMs: 50 } });
  stops.push(outsider.imds);
  const rejected: number[] = [];
  for (let run = 0; run < Math.min(RUNS, 10); run += 1) {
    const started = performance.now();
    const result = await runAgent(bundle.bundle, ['up', VIP, 'lo', '--no-interface-check'], outsider.env);
    if (result.code !== 1) throw new Error(`rejected up exited ${result.code}: ${result.stderr}`);
    rejected.push(performance.now() - started);
  }
  record('bundled: start -> exit 1 (up, rejected: untagged)', rejected);

  const width = Math.max(...rows.map((row) => row.measure.length));
  console.log(`agent timings against moto on loopback (ms; ${RUNS} runs unless n says otherwise)`);
  console.log(`${'measure'.padEnd(width)}  median     min     max   n`);
  for (const row of rows) {
    console.log(
      `${row.measure.padEnd(width)}  ${row.median.toFixed(0).padStart(6)}  ${row.min.toFixed(0).padStart(6)}  ${row.max.toFixed(0).padStart(6)}  ${String(row.n).padStart(2)}`,
    );
  }
} finally {
  for (const thing of stops.reverse()) await thing.stop();
  destroyClients(clients);
  await moto.stop();
  await bundle.remove();
}
