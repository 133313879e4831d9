/**
 * The drill's second half, started by run.ts inside the AWS namespace (pgvd-aws) once the
 * network exists: moto, the demo world, the control loops, then the scenarios for the
 * article's script and for pgpool-vip. Prints the table and writes drill-report.json.
 * run.ts owns the namespaces and removes whatever this process leaves behind.
 * Usage: world-main.ts WORKDIR AGENT_BUNDLE PGPOOL_VERSION
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AWS_PROFILE_PATH, latencyFor, parseLatencyChoice, readLatencyProfile } from '../local/front-door/latency-profile.ts';
import { seededRandom, seedFrom } from '../local/front-door/random.ts';
import { DrillWorld, REPO_ROOT } from './drill-world.ts';
import { createCluster } from './flavours.ts';
import { watchdogPriority, watchdogTimings } from './pgpool-config.ts';
import { PGPOOL_VERSIONS, type PgpoolVersion } from './options.ts';
import { findPgpool } from './pgpool-install.ts';
import { BASELINE, machine, PRODUCT, productLabel, scenarioDetails, summaryFigures, summaryTable, type DrillReport } from './report.ts';
import { runScenarios, type ScenarioResult } from './scenarios.ts';
import { Timeline } from './timeline.ts';

const [workdir, agentBundle, pgpoolVersion] = process.argv.slice(2);
if (workdir === undefined || agentBundle === undefined || !PGPOOL_VERSIONS.includes(pgpoolVersion as PgpoolVersion)) {
  console.error('world-main: usage: world-main.ts WORKDIR AGENT_BUNDLE 4.3|4.7');
  process.exit(2);
}
const install = findPgpool(pgpoolVersion as PgpoolVersion);
if ('missing' in install) {
  console.error(`world-main: missing ${install.missing}`);
  process.exit(3);
}
let stopping = false;
process.on('SIGTERM', () => {
  // run.ts kills every process in the drill's namespaces right after; nothing to save here.
  stopping = true;
  process.exit(130);
});

const startedAt = Date.now();
const log = (line: string): void => console.log(`drill: [${((Date.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${line}`);
const timeline = new Timeline();
const latencyChoice = parseLatencyChoice(process.env.PGVD_LATENCY);
const latency = latencyFor(latencyChoice, seededRandom(seedFrom(process.env.PGVD_LATENCY_SEED)));
// The stage's provisioned concurrency, as run.ts checked it (0 under moto).
const provisioned = Number(process.env.PGVD_PROVISIONED ?? '0');
const drill = await DrillWorld.create(workdir, timeline, log, latency);
// The local fast path: pgpool keeps CAP_NET_ADMIN and pgpool-vip's agent adds the VIP itself.
const localAddress = process.env.PGVD_ADDRESS === 'local';
const agentConfig = drill.writeAgentConfig({ localAddress });

const flavours: Array<{ name: string; product: boolean }> = [
  { name: PRODUCT, product: true },
  { name: BASELINE, product: false },
];
const results: Record<string, ScenarioResult[]> = {};
try {
  for (const flavour of flavours) {
    if (stopping) break;
    log(`--- ${flavour.product ? productLabel({ address: localAddress ? 'local' : 'ssm' }) : flavour.name}: pgpool2 ${install.label.replace(/^pgpool-II version /, '')} watchdog x3 ---`);
    await drill.resetVip();
    if (flavour.product) drill.startController({ provisionedConcurrency: provisioned });
    const cluster = createCluster(drill, timeline, agentConfig, {
      script: flavour.product ? 'pgpool-vip' : 'article',
      install,
      timings: watchdogTimings,
      priority: watchdogPriority,
      agentBundle,
      dir: join(workdir, flavour.product ? 'pgpool-vip' : 'article'),
      localAddress,
    });
    try {
      const report = (result: ScenarioResult): void => {
        console.log(scenarioDetails([result]));
        log(`${flavour.name} scenario ${result.id}: ${result.verdict}`);
      };
      results[flavour.name] = await runScenarios(
        { drill, cluster, flavour: flavour.name, log, report },
        { refusals: flavour.product, shouldStop: () => stopping },
      );
    } finally {
      await cluster.stopAll();
      await drill.stopController();
    }
  }
} finally {
  await drill.close();
}

const passed = (results[PRODUCT] ?? []).length === 5 && (results[PRODUCT] ?? []).every((result) => result.verdict === 'pass');
const report: DrillReport = {
  machine: machine(),
  startedAt: new Date(startedAt).toISOString(),
  durationMs: Date.now() - startedAt,
  pgpool: install.label,
  flavours: results,
  passed,
  latency: process.env.PGVD_LATENCY ?? 'moto',
  address: localAddress ? 'local' : 'ssm',
  provisioned,
  ...(latencyChoice === 'aws' ? { ssmDeliveryP50Ms: readLatencyProfile(AWS_PROFILE_PATH).hooks['ssm-delivery'].p50Ms } : {}),
};
console.log('');
console.log(summaryTable(report));
console.log('');
console.log(summaryFigures(report));
console.log(`\nmachine: ${report.machine.cpus} x ${report.machine.cpu}, Linux ${report.machine.kernel}, node ${report.machine.node}, ${install.label}; drill took ${(report.durationMs / 1000).toFixed(0)} s`);
writeFileSync(join(REPO_ROOT, 'drill-report.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`drill-report.json written; pgpool-vip verdicts: ${passed ? 'all pass' : 'NOT all pass'}`);
process.exit(passed ? 0 : 1);
