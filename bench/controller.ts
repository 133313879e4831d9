// Controller numbers: cold import of the bundled handler vs the SDK unbundled, and, per
// switchover kind against moto, its call graph: the calls at each depth of the critical path,
// and when the SSM add and the first route write were sent (`--calls-only` skips the cold
// imports; `--latency aws` sends the handler's calls through the front door with the AWS
// latency model, so those times are the model's).
// Prints numbers; nothing here asserts a time.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';
import { build } from 'esbuild';
import { motoClients, type AwsClients } from '../local/aws-clients.ts';
import { localContext, worldSwitchoverHandler } from '../local/controller.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { envelope, signedDetail } from '../local/requests.ts';
import { createWorld, type WorldInstance } from '../local/world.ts';
import { startAwsFrontDoor } from '../local/front-door/front-door.ts';
import { latencyFor, latencyOption } from '../local/front-door/latency-profile.ts';
import { seededRandom, seedFrom } from '../local/front-door/random.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 10);

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Milliseconds from process start until `code` has run, median of RUNS fresh processes. */
function coldStart(code: string, env: NodeJS.ProcessEnv = {}): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `${code}\nconsole.log(performance.now())`], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    if (child.status !== 0) throw new Error(`cold start probe failed: ${child.stderr}`);
    times.push(Number(child.stdout.trim().split('\n').pop()));
  }
  return median(times);
}

async function coldImports(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgpool-vip-bench-'));
  try {
    const bundle = join(dir, 'handler.mjs');
    await build({
      entryPoints: [join(ROOT, 'functions/switchover/handler.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      mainFields: ['module', 'main'],
      // As serverless.yml packages it.
      minifyWhitespace: true,
      minifySyntax: true,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'error',
    });
    const env = {
      PGPOOL_VIP_CONFIG: JSON.stringify({ clusters: [{ name: 'main', vip: '198.19.0.50', routeTables: ['rtb-0123456789abcdef0'], allowedRoles: ['pgpool-node'] }] }),
      LEDGER_TABLE: 'pgpool-vip-ledger',
      ACCOUNT_ID: '123456789012',
      AWS_REGION: 'us-east-1',
    };
    const bare = coldStart('');
    const unbundled = coldStart(
      "await Promise.all(['@aws-sdk/client-ec2','@aws-sdk/client-ssm','@aws-sdk/client-dynamodb','@aws-sdk/client-eventbridge','@aws-lambda-powertools/logger','@aws-lambda-powertools/metrics','@middy/core','@smithy/node-http-handler','zod'].map((name) => import(name)));",
    );
    const bundled = coldStart(`await import(${JSON.stringify(bundle)});`, env);
    console.log(`cold import, median of ${RUNS} fresh node ${process.version} processes (ms from process start):`);
    console.log(`  node -e 0                                      ${bare.toFixed(0).padStart(6)}`);
    console.log(`  SDK clients + Powertools + middy, unbundled    ${unbundled.toFixed(0).padStart(6)}`);
    console.log(`  bundled switchover handler (${(statSync(bundle).size / 1024).toFixed(0)} KiB)         ${bundled.toFixed(0).padStart(6)}`);
    console.log(`  ratio bundled / unbundled: ${(bundled / unbundled).toFixed(2)}; above bare node: ${(bundled - bare).toFixed(0)} vs ${(unbundled - bare).toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CallSpan {
  name: string;
  start: number;
  end: number;
}

/** Records every SDK call of the clients, and the STS proof replay, as spans. */
function recordCalls(clients: AwsClients, spans: CallSpan[]): HttpHandler {
  for (const [service, client] of Object.entries(clients)) {
    (client as AwsClients['ec2']).middlewareStack.add(
      (next, context) => async (args) => {
        const span = { name: `${service}:${String(context.commandName).replace(/Command$/, '')}`, start: performance.now(), end: 0 };
        try {
          return await next(args);
        } finally {
          span.end = performance.now();
          spans.push(span);
        }
      },
      { step: 'initialize', name: 'benchSpans' },
    );
  }
  const inner = new NodeHttpHandler();
  return {
    handle: async (...args: Parameters<HttpHandler['handle']>) => {
      const span = { name: 'sts:GetCallerIdentity(proof)', start: performance.now(), end: 0 };
      try {
        return await inner.handle(...args);
      } finally {
        span.end = performance.now();
        spans.push(span);
      }
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
}

/**
 * Each call's depth: 1 + the deepest call that had ended before it started. The depth of the
 * first route write is the number of sequential round trips it waited for, plus one.
 */
function depths(spans: CallSpan[]): Map<CallSpan, number> {
  const depth = new Map<CallSpan, number>();
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    const before = spans.filter((other) => other.end <= span.start).map((other) => depth.get(other) ?? 0);
    depth.set(span, 1 + Math.max(0, ...before));
  }
  return depth;
}

/** `name` or `namexN`, in order of first appearance. */
function counted(names: string[]): string {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([call, count]) => (count > 1 ? `${call}x${count}` : call)).join(' ');
}

const ROUTE_WRITES = new Set(['ec2:CreateRoute', 'ec2:ReplaceRoute']);

let worlds = 0;

/**
 * Runs the switchover kinds on a fresh world (made in moto directly) and prints each one's calls
 * by depth (its call graph); the handler's calls go to `endpoint` (moto, or the front door).
 */
async function callGraphs(motoEndpoint: string, endpoint: string, tables: number, print = true): Promise<void> {
  worlds += 1;
  const world = await createWorld(motoClients(motoEndpoint), { prefix: `bench${worlds}-`, routeTableCount: tables });
  const clients = motoClients(endpoint);
  const spans: CallSpan[] = [];
  const stsHttp = recordCalls(clients, spans);
  const handler = worldSwitchoverHandler(world, clients, { endpoint, stsHttp, logger: new Logger({ logLevel: 'SILENT' }) });
  const [node1, node2] = world.instances as [WorldInstance, WorldInstance];
  const scenarios: Array<[string, WorldInstance, 'up' | 'down']> = [
    ['first up (create, cold container)', node1, 'up'],
    ['repeated up (no-op)', node1, 'up'],
    ['up moving (replace)', node2, 'up'],
    ['late down from the old holder', node1, 'down'],
  ];
  const log = print ? console.log : () => undefined;
  log(`\ncall graph per switchover, ${tables} route table${tables > 1 ? 's' : ''} (${latency === 'aws' ? 'moto behind the AWS latency model' : 'moto on loopback'}; depth = sequential round trips):`);
  for (const [name, instance, action] of scenarios) {
    const detail = await signedDetail(world, instance, { action, stsEndpoint: endpoint });
    spans.length = 0;
    const started = performance.now();
    const result = (await handler(envelope(detail, world), localContext())) as { outcome: string };
    const wall = performance.now() - started;
    const depth = depths(spans);
    const deepest = Math.max(0, ...depth.values());
    const routeWrite = Math.min(...spans.filter((span) => ROUTE_WRITES.has(span.name)).map((span) => depth.get(span) ?? 0));
    const beforeRoute = Number.isFinite(routeWrite) ? `${routeWrite - 1} before the route write` : 'no route write';
    // The first SendCommand of an up is its add on the sender (the fence comes after the routes).
    const sentAt = (names: (span: CallSpan) => boolean): string => {
      const first = Math.min(...spans.filter(names).map((span) => span.start));
      return Number.isFinite(first) ? `${(first - started).toFixed(0)} ms` : '-';
    };
    const starts = `SSM add sent at ${action === 'up' ? sentAt((span) => span.name === 'ssm:SendCommand') : '-'}, first route write at ${sentAt((span) => ROUTE_WRITES.has(span.name))}`;
    log(`  ${name} [${result.outcome}]: ${spans.length} calls, depth ${deepest}, ${beforeRoute}, ${wall.toFixed(0)} ms; ${starts}`);
    for (let level = 1; level <= deepest; level += 1) {
      const names = [...spans].sort((a, b) => a.start - b.start).filter((span) => depth.get(span) === level).map((span) => span.name);
      log(`    ${level}. ${counted(names)}`);
    }
  }
}

const callsOnly = process.argv.includes('--calls-only');
const latency = latencyOption(process.argv);
const moto = await startMotoServer();
// Under the latency model the handler's calls go through the front door; otherwise straight to moto.
const door =
  latency === 'aws'
    ? await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint, latency: latencyFor(latency, seededRandom(seedFrom(process.env.BENCH_LATENCY_SEED))) })
    : null;
const endpoint = door?.endpoint ?? moto.endpoint;
try {
  if (!callsOnly) await coldImports();
  // Warm moto's services first: its first call to a service costs ~1.8 s and would distort wall times.
  await callGraphs(moto.endpoint, moto.endpoint, 1, false);
  await callGraphs(moto.endpoint, endpoint, 1);
  await callGraphs(moto.endpoint, endpoint, 3);
} finally {
  await door?.stop();
  await moto.stop();
}
