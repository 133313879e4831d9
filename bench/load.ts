// Load: many clusters (3 route tables each) switching at once against one moto server. For N in
// 10, 30, 100 clusters, N `up` switchovers run concurrently, each moving its cluster's VIP to
// another member; every route table must end on the new holder's ENI and every request must end
// with one outcome record. Prints the AWS calls per switchover and the controller's time per
// switchover (median, p95) per N, to see whether it stays flat as N grows.
// Each cluster has its own controller instance, as concurrent Lambda invocations would; the SDK
// clients are the local controller's (maxAttempts 1). Prints numbers; nothing here asserts a time.
// LOAD_CLUSTERS (comma-separated N, default 10,30,100).
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { Logger } from '@aws-lambda-powertools/logger';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandler } from '@smithy/protocol-http';
import { DynamoLedger } from '../functions/adapters/ledger.ts';
import { createSwitchoverHandler } from '../functions/switchover/switchover-flow.ts';
import { motoClients, type AwsClients } from '../local/aws-clients.ts';
import { localContext, worldSwitchoverHandler } from '../local/controller.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { envelope, signedDetail } from '../local/requests.ts';
import { createWorld, type World, type WorldInstance } from '../local/world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const SIZES = (process.env.LOAD_CLUSTERS ?? '10,30,100').split(',').map(Number);
const ROUTE_TABLES = 3;
/** Worlds built one at a time: moto answers 500 to concurrent world building (IAM, EC2 set-up). */
const BUILD_CONCURRENCY = 1;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

interface Cluster {
  world: World;
  clients: AwsClients;
  handler: ReturnType<typeof createSwitchoverHandler>;
  /** Calls made by this cluster's controller since the last reset (SDK calls and the STS proof replay). */
  calls: string[];
  /** Index of the member holding the VIP, -1 before the first `up`. */
  holder: number;
}

/** A controller for one world whose every AWS call is counted, the STS proof replay included. */
function clusterOf(endpoint: string, world: World): Cluster {
  const clients = motoClients(endpoint);
  const calls: string[] = [];
  for (const [service, client] of Object.entries(clients)) {
    (client as AwsClients['ec2']).middlewareStack.add(
      (next, context) => async (args) => {
        calls.push(`${service}:${String(context.commandName).replace(/Command$/, '')}`);
        return await next(args);
      },
      { step: 'initialize', name: 'loadCalls' },
    );
  }
  const inner = new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 5000 });
  const stsHttp: HttpHandler = {
    handle: async (...args: Parameters<HttpHandler['handle']>) => {
      calls.push('sts:GetCallerIdentity(proof)');
      return await inner.handle(...args);
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  const handler = worldSwitchoverHandler(world, clients, { endpoint, stsHttp, logger: new Logger({ logLevel: 'SILENT' }) });
  // Nobody holds the VIP yet: the first switchover goes to the first member.
  return { world, clients, handler, calls, holder: -1 };
}

async function buildClusters(endpoint: string, count: number): Promise<Cluster[]> {
  const clusters: Cluster[] = [];
  for (let first = 0; first < count; first += BUILD_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(BUILD_CONCURRENCY, count - first) }, (_, offset) => first + offset);
    const built = await Promise.all(
      batch.map(async (index) => clusterOf(endpoint, await createWorld(motoClients(endpoint), { prefix: `load${index}-`, routeTableCount: ROUTE_TABLES }))),
    );
    clusters.push(...built);
  }
  return clusters;
}

interface Switchover {
  cluster: Cluster;
  requestId: string;
  target: WorldInstance;
  outcome: string;
  ms: number;
  calls: string[];
}

/** One `up` moving the VIP to the next member, timed as the controller runs it. */
async function switchOver(endpoint: string, cluster: Cluster): Promise<Switchover> {
  const target = cluster.world.instances[(cluster.holder + 1) % cluster.world.instances.length] as WorldInstance;
  const detail = await signedDetail(cluster.world, target, { action: 'up', stsEndpoint: endpoint });
  cluster.calls.length = 0;
  const started = performance.now();
  // An invocation that runs out of its Lambda time is aborted by the handler's middleware: that is
  // a result to report (its request is left claimed, without an outcome), not a reason to stop.
  const outcome = await cluster
    .handler(envelope(detail, cluster.world), localContext())
    .then((result) => (result as { outcome: string }).outcome)
    .catch((error: unknown) => `aborted (${(error as Error).name})`);
  const ms = performance.now() - started;
  cluster.holder = cluster.world.instances.indexOf(target);
  return { cluster, requestId: detail.requestId, target, outcome, ms, calls: [...cluster.calls] };
}

/** What is wrong after a switchover: a table not on the new holder's ENI, or no single final outcome record. */
async function problems(endpoint: string, run: Switchover): Promise<string[]> {
  const { world } = run.cluster;
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

const moto = await startMotoServer();
try {
  const largest = Math.max(...SIZES);
  const building = performance.now();
  const clusters = await buildClusters(moto.endpoint, largest);
  // Every cluster's first member takes the VIP: moto's services are warm and every table holds the route.
  for (const cluster of clusters) {
    const first = await switchOver(moto.endpoint, cluster);
    if (first.outcome !== 'applied') throw new Error(`first up of ${cluster.world.config.clusters[0]?.name} ended ${first.outcome}`);
  }
  console.log(`load: ${largest} clusters x ${ROUTE_TABLES} route tables built and holding the VIP in ${((performance.now() - building) / 1000).toFixed(0)} s (moto on loopback)`);
  console.log('  N clusters switching at once | outcomes | calls per switchover | controller ms per switchover: median  p95  max | wall ms for all N');
  for (const size of SIZES) {
    const started = performance.now();
    const runs = await Promise.all(clusters.slice(0, size).map(async (cluster) => await switchOver(moto.endpoint, cluster)));
    const wall = performance.now() - started;
    const broken = (await Promise.all(runs.map(async (run) => await problems(moto.endpoint, run)))).flat();
    const outcomes = new Map<string, number>();
    for (const run of runs) outcomes.set(run.outcome, (outcomes.get(run.outcome) ?? 0) + 1);
    const times = runs.map((run) => run.ms);
    const calls = runs.map((run) => run.calls.length);
    console.log(
      `  ${String(size).padStart(3)} | ${[...outcomes].map(([kind, count]) => `${kind} ${count}`).join(', ')} | ` +
        `${Math.min(...calls)}-${Math.max(...calls)} (median ${percentile(calls, 50)}) | ` +
        `${percentile(times, 50).toFixed(0)}  ${percentile(times, 95).toFixed(0)}  ${Math.max(...times).toFixed(0)} | ${wall.toFixed(0)}`,
    );
    const tables = size * ROUTE_TABLES;
    console.log(broken.length === 0 ? `      all ${tables} route tables on the new holder's ENI; ${size} requests, one outcome record each` : `      BROKEN (${broken.length} findings, first 5): ${broken.slice(0, 5).join('; ')}`);
    if (broken.length > 0) process.exitCode = 1;
    const sample = runs[0]?.calls ?? [];
    if (size === largest) console.log(`  the calls of one switchover: ${[...new Set(sample)].map((name) => `${name}x${sample.filter((call) => call === name).length}`).join(' ')}`);
  }
} finally {
  await moto.stop();
}
