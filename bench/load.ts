// Load: many clusters (3 route tables each) switching at once against moto. For N in 10, 30, 100
// clusters, N `up` switchovers start at the same moment, each moving its cluster's VIP to another
// member; every route table must end on the new holder's ENI and every request must end with one
// outcome record.
//
// What is modelled as on AWS: each cluster's controller is its own handler instance (its own
// Lambda container, warm), and each invocation gets Lambda's real timeout (the SSM wait plus
// SWITCHOVER_TIMEOUT_MARGIN_SECONDS, as packaged), counting down from its start. At most the
// function's reserved concurrency runs at once (serverless.yml's switchoverReservedConcurrency,
// 20; LOAD_CONCURRENCY overrides it, 0 for no limit): EventBridge invokes the function
// asynchronously, and Lambda keeps the events beyond that concurrency in its queue until an
// instance is free (here at once; Lambda retries a throttled event with a backoff, so on AWS a
// little later, within the function's maximumEventAge). What is not AWS:
// the emulator. moto answers one call at a time per process, and its cost per call grows with what
// it holds, so the clusters are spread over LOAD_MOTO_SERVERS moto processes (default: one per
// CLUSTERS_PER_MOTO clusters), cluster i on server i mod M. The
// clusters share nothing (each its own VPC, ledger table and bus), so which process emulates
// which cluster changes no result, only how long the emulator makes calls wait.
//
// Per N it prints: the outcomes; the AWS calls per switchover; the controller's own time per
// switchover, separated from the emulator's queueing: Node's CPU time for the whole wave / N (the
// controller, the SDK and the signing of each request; every switchover of the wave runs in this
// one process) and the wall
// time of a switchover during which none of its AWS calls was in flight; then the time spent
// waiting on AWS calls, a call's time, and the wall time of the whole wave.
// LOAD_CLUSTERS (comma-separated N, default 10,30,100). Prints numbers; nothing here asserts a time.
import { readFileSync } from 'node:fs';
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';
import { DeadlineBoundHttpHandler } from '../functions/adapters/client-settings.ts';
import { DynamoLedger } from '../functions/adapters/ledger.ts';
import { createSwitchoverHandler } from '../functions/switchover/switchover-flow.ts';
import type { RequestDetail } from '../lib/contract.ts';
import { motoClients, type AwsClients } from '../local/aws-clients.ts';
import { localContext, worldSwitchoverHandler } from '../local/controller.ts';
import { startMotoServer, type MotoServer } from '../local/moto-server.ts';
import { envelope, signedDetail } from '../local/requests.ts';
import { createWorld, type World, type WorldInstance } from '../local/world.ts';
import { SWITCHOVER_TIMEOUT_MARGIN_SECONDS } from '../scripts/stage-config.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const SIZES = (process.env.LOAD_CLUSTERS ?? '10,30,100').split(',').map(Number);
/** Clusters per moto process: moto's per-call cost grows with the instances it holds (SendCommand and DescribeInstances walk them all). */
const CLUSTERS_PER_MOTO = 25;
const RESERVED_CONCURRENCY = Number(/switchoverReservedConcurrency: (\d+)/.exec(readFileSync(new URL('../serverless.yml', import.meta.url), 'utf8'))?.[1]);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? RESERVED_CONCURRENCY) || Number.POSITIVE_INFINITY;
const ROUTE_TABLES = 3;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const median = (values: number[]): number => percentile(values, 50);
const ms = (value: number): string => value.toFixed(0);

/** One AWS call of a controller: its name and when it was in flight (retries included). */
interface Call {
  name: string;
  startedAt: number;
  endedAt: number;
}

interface Cluster {
  endpoint: string;
  world: World;
  handler: ReturnType<typeof createSwitchoverHandler>;
  /** Lambda's timeout for this cluster's switchover, as packaged. */
  timeoutMs: number;
  /** Calls made by this cluster's controller since the last reset (SDK calls and the STS proof replay). */
  calls: Call[];
  /** Index of the member holding the VIP, -1 before the first `up`. */
  holder: number;
}

/** Times `work` as one call of `calls`. */
async function counted<T>(calls: Call[], name: string, work: () => Promise<T>): Promise<T> {
  const call = { name, startedAt: performance.now(), endedAt: Number.NaN };
  calls.push(call);
  try {
    return await work();
  } finally {
    call.endedAt = performance.now();
  }
}

/** A controller for one world whose every AWS call is counted and timed, the STS proof replay included. */
function clusterOf(endpoint: string, world: World): Cluster {
  // As in Lambda, a call still in flight at the invocation's deadline is aborted
  // (functions/adapters/client-settings.ts); moto's HTML 500s are not retried (maxAttempts 1).
  const clients = motoClients(endpoint, undefined, new DeadlineBoundHttpHandler(new NodeHttpHandler()));
  const calls: Call[] = [];
  for (const [service, client] of Object.entries(clients)) {
    (client as AwsClients['ec2']).middlewareStack.add(
      (next, context) => async (args) => await counted(calls, `${service}:${String(context.commandName).replace(/Command$/, '')}`, () => next(args)),
      { step: 'initialize', name: 'loadCalls' },
    );
  }
  const inner = new DeadlineBoundHttpHandler(new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 5000 }));
  const stsHttp: HttpHandler = {
    handle: async (...args: Parameters<HttpHandler['handle']>) => await counted(calls, 'sts:GetCallerIdentity(proof)', () => inner.handle(...args)),
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  const handler = worldSwitchoverHandler(world, clients, { endpoint, stsHttp, logger: new Logger({ logLevel: 'SILENT' }) });
  const timeoutMs = ((world.config.ssmWaitSeconds ?? 20) + SWITCHOVER_TIMEOUT_MARGIN_SECONDS) * 1000;
  // Nobody holds the VIP yet: the first switchover goes to the first member.
  return { endpoint, world, handler, timeoutMs, calls, holder: -1 };
}

/** Cluster i on server i mod M; each server builds its worlds one at a time (moto answers 500 to concurrent set-up). */
async function buildClusters(servers: MotoServer[], count: number): Promise<Cluster[]> {
  const clusters: Cluster[] = new Array<Cluster>(count);
  await Promise.all(
    servers.map(async (server, serverIndex) => {
      for (let index = serverIndex; index < count; index += servers.length) {
        const world = await createWorld(motoClients(server.endpoint), { prefix: `load${index}-`, routeTableCount: ROUTE_TABLES });
        clusters[index] = clusterOf(server.endpoint, world);
      }
    }),
  );
  return clusters;
}

/** Runs every job, at most `limit` at once, each as soon as a slot is free (Lambda's concurrency). */
async function atMost<T, R>(limit: number, jobs: T[], run: (job: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(jobs.length);
  let next = 0;
  const slot = async (): Promise<void> => {
    for (let index = next++; index < jobs.length; index = next++) results[index] = await run(jobs[index] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, slot));
  return results;
}

interface Switchover {
  cluster: Cluster;
  requestId: string;
  target: WorldInstance;
  outcome: string;
  ms: number;
  /** When the invocation started, from the start of the wave (waiting for a free instance). */
  queuedMs: number;
  calls: Call[];
}

/**
 * One `up` moving the VIP to the next member, timed as the controller runs it, under Lambda's
 * timeout. The request is signed as the invocation starts: a wait in Lambda's queue as long as
 * this emulator makes it would otherwise outlast the proof's freshness, which on AWS it does not.
 */
async function switchOver(cluster: Cluster, waveStartedAt = performance.now()): Promise<Switchover> {
  const target = cluster.world.instances[(cluster.holder + 1) % cluster.world.instances.length] as WorldInstance;
  const detail: RequestDetail = await signedDetail(cluster.world, target, { action: 'up', stsEndpoint: cluster.endpoint });
  cluster.calls.length = 0;
  const started = performance.now();
  // An invocation that still runs out of its Lambda time is aborted by middy: a result to
  // report (its request left claimed, without an outcome), not a reason to stop the bench.
  const outcome = await cluster
    .handler(envelope(detail, cluster.world), localContext(cluster.timeoutMs))
    .then((result) => (result as { outcome: string }).outcome)
    .catch((error: unknown) => `aborted (${(error as Error).name})`);
  const took = performance.now() - started;
  cluster.holder = cluster.world.instances.indexOf(target);
  return { cluster, requestId: detail.requestId, target, outcome, ms: took, queuedMs: started - waveStartedAt, calls: [...cluster.calls] };
}

/** Wall time during which at least one of the calls was in flight. */
function inFlightMs(calls: Call[]): number {
  const spans = calls.map((call) => [call.startedAt, call.endedAt] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [from, to] = [Number.NaN, Number.NaN];
  for (const [start, end] of spans) {
    if (Number.isNaN(from) || start > to) {
      if (!Number.isNaN(from)) total += to - from;
      [from, to] = [start, end];
    } else to = Math.max(to, end);
  }
  return Number.isNaN(from) ? 0 : total + to - from;
}

/** What is wrong after a switchover: a table not on the new holder's ENI, or no single final outcome record. */
async function problems(run: Switchover): Promise<string[]> {
  const { world, endpoint } = run.cluster;
  // Uncounted clients: the check is not the controller's.
  const clients = motoClients(endpoint);
  const found: string[] = [];
  const vip = `${world.config.clusters[0]?.vip}/32`;
  const tables = await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: world.routeTableIds }));
  for (const tableId of world.routeTableIds) {
    const table = tables.RouteTables?.find((candidate) => candidate.RouteTableId === tableId);
    const route = table?.Routes?.find((candidate) => candidate.DestinationCidrBlock === vip);
    if (route?.NetworkInterfaceId !== run.target.eni) found.push(`${tableId}: ${vip} -> ${route?.NetworkInterfaceId ?? 'none'}, want ${run.target.eni}`);
  }
  const record = await new DynamoLedger(clients.dynamodb, world.ledgerTable).readRequest(run.requestId);
  if (record === null) found.push(`request ${run.requestId}: no record`);
  else if (record.status === 'claimed') found.push(`request ${run.requestId}: still claimed, no outcome`);
  else if (record.status !== run.outcome) found.push(`request ${run.requestId}: record says ${record.status}, controller said ${run.outcome}`);
  if (run.outcome !== 'applied') found.push(`request ${run.requestId}: ${run.outcome}`);
  return found;
}

const MOTO_SERVERS = Number(process.env.LOAD_MOTO_SERVERS ?? Math.ceil(Math.max(...SIZES) / CLUSTERS_PER_MOTO));
const servers = await Promise.all(Array.from({ length: MOTO_SERVERS }, () => startMotoServer()));
try {
  const largest = Math.max(...SIZES);
  const building = performance.now();
  const clusters = await buildClusters(servers, largest);
  // Every cluster's first member takes the VIP: moto's services are warm, every table holds the
  // route and every controller container is warm (its VPC read cached), as in a running region.
  await Promise.all(
    servers.map(async (_, serverIndex) => {
      for (const cluster of clusters.filter((__, index) => index % servers.length === serverIndex)) {
        const first = await switchOver(cluster);
        if (first.outcome !== 'applied') throw new Error(`first up of ${cluster.world.config.clusters[0]?.name} ended ${first.outcome}`);
      }
    }),
  );
  const timeoutS = (clusters[0]?.timeoutMs ?? 0) / 1000;
  console.log(
    `load: ${largest} clusters x ${ROUTE_TABLES} route tables on ${servers.length} moto server(s), built and holding the VIP in ` +
      `${ms((performance.now() - building) / 1000)} s; Lambda timeout ${timeoutS} s per invocation, at most ${CONCURRENCY} invocations at once`,
  );
  console.log(
    '  N | outcomes | calls per switchover | Node CPU ms per switchover | ms outside AWS calls: median p95 | ms waiting on AWS: median p95 | ms per call: median p95 | ms per switchover: median p95 max | ms queued for an instance: max | wall ms',
  );
  for (const size of SIZES) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const runs = await atMost(CONCURRENCY, clusters.slice(0, size), (cluster) => switchOver(cluster, started));
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const broken = (await Promise.all(runs.map(problems))).flat();
    const outcomes = new Map<string, number>();
    for (const run of runs) outcomes.set(run.outcome, (outcomes.get(run.outcome) ?? 0) + 1);
    const times = runs.map((run) => run.ms);
    const calls = runs.map((run) => run.calls.length);
    const waiting = runs.map((run) => inFlightMs(run.calls));
    const own = runs.map((run, index) => run.ms - (waiting[index] ?? 0));
    const perCall = runs.flatMap((run) => run.calls.map((call) => call.endedAt - call.startedAt));
    console.log(
      `  ${String(size).padStart(3)} | ${[...outcomes].map(([kind, count]) => `${kind} ${count}`).join(', ')} | ` +
        `${Math.min(...calls)}-${Math.max(...calls)} (median ${median(calls)}) | ` +
        `${ms((used.user + used.system) / 1000 / size)} | ${ms(median(own))} ${ms(percentile(own, 95))} | ` +
        `${ms(median(waiting))} ${ms(percentile(waiting, 95))} | ${ms(median(perCall))} ${ms(percentile(perCall, 95))} | ` +
        `${ms(median(times))} ${ms(percentile(times, 95))} ${ms(Math.max(...times))} | ${ms(Math.max(...runs.map((run) => run.queuedMs)))} | ${ms(wall)}`,
    );
    const tables = size * ROUTE_TABLES;
    console.log(broken.length === 0 ? `      all ${tables} route tables on the new holder's ENI; ${size} requests, one outcome record each` : `      BROKEN (${broken.length} findings, first 5): ${broken.slice(0, 5).join('; ')}`);
    if (broken.length > 0) process.exitCode = 1;
    const sample = runs[0]?.calls.map((call) => call.name) ?? [];
    if (size === largest) console.log(`  the calls of one switchover: ${[...new Set(sample)].map((name) => `${name}x${sample.filter((call) => call === name).length}`).join(' ')}`);
    // Where the emulator's time goes: each kind of call's time, median and p95, slowest first.
    const byKind = new Map<string, number[]>();
    for (const call of runs.flatMap((run) => run.calls)) byKind.set(call.name, [...(byKind.get(call.name) ?? []), call.endedAt - call.startedAt]);
    const kinds = [...byKind].sort((a, b) => median(b[1]) - median(a[1]));
    console.log(`      ms per call by kind (median/p95): ${kinds.map(([name, spans]) => `${name} ${ms(median(spans))}/${ms(percentile(spans, 95))}`).join(', ')}`);
  }
} finally {
  await Promise.all(servers.map((server) => server.stop()));
}
