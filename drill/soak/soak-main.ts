/**
 * The soak, started by run.ts inside the AWS namespace once the network exists: three pgpool
 * nodes with pgpool's default watchdog timings, N random sequences of failure steps, the checks
 * of checks.ts on each sequence, soak-report.json, and a timeline picture for every sequence
 * that broke a check. run.ts owns the namespaces and removes whatever this process leaves behind.
 * Usage: soak-main.ts WORKDIR AGENT_BUNDLE 4.3|4.7 pgpool-vip|article SEQUENCES SEED OUT_DIR
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { latencyFor, parseLatencyChoice } from '../../local/front-door/latency-profile.ts';
import { seededRandom, seedFrom } from '../../local/front-door/random.ts';
import { DrillWorld } from '../drill-world.ts';
import { createCluster } from '../flavours.ts';
import { PGPOOL_VERSIONS, SCRIPTS } from '../options.ts';
import { PGPOOL_DEFAULT_TIMINGS } from '../pgpool-config.ts';
import { findPgpool, type PgpoolInstall } from '../pgpool-install.ts';
import { machine } from '../report.ts';
import { formatTimeline, Timeline } from '../timeline.ts';
import { NODES } from '../topology.ts';
import { analyzeSequence, CHECK_NAMES, percentiles, type CheckResult, type FenceRun, type LedgerEntry, type SequenceAnalysis, type SequenceRecord } from './checks.ts';
import { Observer } from './observer.ts';
import { describeStep, planSequence, type SequencePlan } from './plan.ts';
import { SoakRunner, type StepRecord } from './runner.ts';
import { timelineSvg } from './timeline-svg.ts';

const Args = z.tuple([
  z.string().min(1),
  z.string().min(1),
  z.enum(PGPOOL_VERSIONS),
  z.enum(SCRIPTS),
  z.coerce.number().int().min(1).max(200),
  z.coerce.number().int().min(0),
  z.string().min(1),
]);
const parsed = Args.safeParse(process.argv.slice(2));
if (!parsed.success) {
  console.error('soak-main: usage: soak-main.ts WORKDIR AGENT_BUNDLE 4.3|4.7 pgpool-vip|article SEQUENCES SEED OUT_DIR');
  process.exit(2);
}
const [workdir, agentBundle, pgpoolVersion, script, sequences, seed, outDir] = parsed.data;
const found = findPgpool(pgpoolVersion);
if ('missing' in found) {
  console.error(`soak-main: missing ${found.missing}`);
  process.exit(3);
}
const install: PgpoolInstall = found;

interface SequenceReport {
  index: number;
  seed: number;
  steps: StepRecord[];
  durationMs: number;
  notes: string[];
  checks: CheckResult[];
  broken: number;
  convergenceMs: number[];
  epochs: SequenceAnalysis['epochs'];
  leaderless: SequenceAnalysis['leaderless'];
  /** The controller's decisions in the sequence (null: the script has no controller). */
  decisions: Record<string, number> | null;
  /** The timeline picture, for a sequence that broke a check. */
  picture: string | null;
  /** The drill's event log of the sequence, for a sequence that broke a check. */
  events: string | null;
}

const startedAt = Date.now();
const log = (line: string): void => console.log(`soak: [${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const reports: SequenceReport[] = [];
const picturesDir = join(outDir, 'soak-timelines');
const reportPath = join(outDir, 'soak-report.json');

/** The controller's decisions over the whole soak, by kind. */
function totalDecisions(): Record<string, number> {
  const total: Record<string, number> = {};
  for (const [kind, n] of reports.flatMap((report) => Object.entries(report.decisions ?? {}))) total[kind] = (total[kind] ?? 0) + n;
  return total;
}

function writeReport(finished: boolean): boolean {
  const checks = reports.flatMap((report) => report.checks);
  const byCheck = Object.fromEntries(
    CHECK_NAMES.map((name) => {
      const of = checks.filter((check) => check.check === name);
      return [name, { pass: of.filter((c) => c.verdict === 'pass').length, broken: of.filter((c) => c.verdict === 'broken').length, notApplicable: of.filter((c) => c.verdict === 'n/a').length }];
    }),
  );
  const broken = checks.filter((check) => check.verdict === 'broken').length;
  const passed = finished && reports.length === sequences && broken === 0;
  const report = {
    pgpool: install.label,
    script,
    seed,
    sequencesPlanned: sequences,
    sequencesRun: reports.length,
    failureSteps: reports.reduce((sum, sequence) => sum + sequence.steps.length, 0),
    finished,
    passed,
    watchdog: { ...PGPOOL_DEFAULT_TIMINGS, note: 'pgpool defaults: none of these is set in pgpool.conf' },
    machine: machine(),
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Date.now() - startedAt,
    checks: byCheck,
    brokenChecks: broken,
    convergence: percentiles(reports.flatMap((sequence) => sequence.convergenceMs)),
    decisions: product ? totalDecisions() : null,
    sequences: reports,
  };
  writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  return passed;
}

let stopping = false;
process.on('SIGTERM', () => {
  // run.ts kills every process in the soak's namespaces right after; keep what was found.
  stopping = true;
  try {
    writeReport(false);
  } finally {
    process.exit(130);
  }
});

mkdirSync(outDir, { recursive: true });
log(`seed ${seed}, ${sequences} sequence(s), ${script} on ${install.label}, pgpool's default watchdog timings (wd_interval ${PGPOOL_DEFAULT_TIMINGS.interval} s, keepalive ${PGPOOL_DEFAULT_TIMINGS.keepalive} s, deadtime ${PGPOOL_DEFAULT_TIMINGS.deadtime} s)`);
const timeline = new Timeline();
const product = script === 'pgpool-vip';
// Two route tables for pgpool-vip: every table must follow. The article's script takes one.
const latency = latencyFor(parseLatencyChoice(process.env.PGVD_LATENCY), seededRandom(seedFrom(process.env.PGVD_LATENCY_SEED)));
const drill = await DrillWorld.create(workdir, timeline, log, latency, { routeTables: product ? 2 : 1, probeSeconds: 24 * 3600 });
const agentConfig = drill.writeAgentConfig();
if (product) drill.startController();
const cluster = createCluster(drill, timeline, agentConfig, {
  script,
  install,
  timings: () => null,
  priority: () => null,
  agentBundle,
  dir: join(workdir, script),
});
const observer = new Observer(drill, cluster);
const runner = new SoakRunner({ drill, cluster, timeline, log, shouldStop: () => stopping });

async function ledgerOf(from: number, to: number): Promise<LedgerEntry[]> {
  const members = new Map(drill.world.instances.map((instance) => [instance.instanceId, instance.name]));
  const inSequence = (): typeof drill.capturedRequests => drill.capturedRequests.filter((request) => {
    const issued = Date.parse(request.issuedAt);
    return members.has(request.instanceId) && issued >= from && issued <= to;
  });
  // An agent may still be waiting for its outcome: give the controller time to answer.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const entries: LedgerEntry[] = [];
    for (const request of inSequence()) {
      const status = await drill.ledgerStatus(request.requestId);
      const actedOn = drill.results.filter((result) => result.requestId === request.requestId && !result.duplicate && result.outcome !== 'failed').length;
      entries.push({ requestId: request.requestId, node: members.get(request.instanceId) ?? request.instanceId, action: request.action, status, actedOn });
    }
    if (entries.every((entry) => entry.status !== null && entry.status !== 'claimed') || Date.now() > deadline) return entries;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The fences the controller sent for applied `up`s, and when the SSM agents had run each one everywhere. */
function fencesOf(from: number, to: number): FenceRun[] {
  return drill.results
    .filter((result) => result.action === 'up' && result.outcome === 'applied' && !result.duplicate)
    .filter((result) => Date.parse(result.receivedAt) >= from - 60_000 && Date.parse(result.receivedAt) <= to)
    .flatMap((result) =>
      result.ssmCommands
        .filter((command) => command.purpose === 'remove' && command.commandId !== 'none')
        .map((command): FenceRun => {
          const runs = drill.ssmExecutions.filter((execution) => execution.commandId === command.commandId);
          const everywhere = command.instanceIds.every((instanceId) => runs.some((execution) => execution.instanceId === instanceId));
          return {
            node: drill.nodeOf(result.instanceId) ?? result.instanceId ?? '?',
            sentAt: Date.parse(result.receivedAt),
            doneAt: everywhere && runs.length > 0 ? Math.max(...runs.map((execution) => execution.endedAt)) : null,
          };
        }),
    );
}

/**
 * What the controller decided during the sequence: outcomes by kind, and how often the leadership
 * rule held a displaced node's re-acquire or handed the VIP over on a release, so a report shows
 * which parts of the rule a run exercised.
 */
function decisionsOf(from: number, to: number): Record<string, number> | null {
  if (!product) return null;
  const decisions: Record<string, number> = {};
  const count = (key: string): void => {
    decisions[key] = (decisions[key] ?? 0) + 1;
  };
  for (const result of drill.results) {
    const received = Date.parse(result.receivedAt);
    if (result.duplicate || received < from || received > to) continue;
    count(`${result.action ?? 'unknown'} ${result.outcome}`);
    if (result.outcome === 'stale' && (result.reason ?? '').includes('re-acquiring it in the same leadership')) count('held re-acquire');
    if (result.action === 'down' && (result.reason ?? '').startsWith('handed the VIP')) count('hand-over');
  }
  return decisions;
}

async function runSequence(plan: SequencePlan): Promise<void> {
  log(`sequence ${plan.index + 1}/${sequences} (seed ${plan.seed}): ${plan.steps.map(describeStep).join(' | ')}`);
  const notes = await runner.healthy();
  const from = Date.now();
  const steps: StepRecord[] = [];
  for (const step of plan.steps) {
    if (stopping) break;
    const record = await runner.run(step);
    steps.push(record);
    log(`  step: ${record.description}: ${record.actions.map((action) => action.text).join('; ')}`);
    const quiet = await runner.quiet();
    if (quiet.length > 0) notes.push(`after "${record.description}" the cluster did not settle within ${runner.quietTimeoutMs / 1000}s: ${quiet.join('; ')}`);
  }
  const to = Date.now();
  const ledger = product ? await ledgerOf(from, to) : null;
  const record: SequenceRecord = {
    from,
    to,
    fences: product ? fencesOf(from, to) : [],
    samples: observer.samples.filter((sample) => sample.t >= from && sample.t <= to),
    routeChanges: observer.routeChanges(from, to),
    ifRuns: cluster.ifCommandRuns().filter((run) => run.startedAt >= from - 5000 && run.startedAt <= to),
    app: drill.samples.filter((sample) => sample.t >= from && sample.t <= to),
    ledger,
  };
  const analysis = analyzeSequence(record);
  const decisions = decisionsOf(from, to);
  let picture: string | null = null;
  let events: string | null = null;
  if (analysis.broken.length > 0) {
    mkdirSync(picturesDir, { recursive: true });
    const name = `sequence-${String(plan.index + 1).padStart(2, '0')}-seed-${plan.seed}`;
    picture = join(picturesDir, `${name}.svg`);
    const marks = steps.flatMap((step) => step.actions.map((action) => ({ at: action.at, text: action.text })));
    writeFileSync(
      picture,
      timelineSvg({ title: `${script} on ${install.label}: soak seed ${seed}, sequence ${plan.index + 1} (seed ${plan.seed})`, record, nodes: NODES.map((node) => node.name), marks, broken: analysis.broken }),
    );
    events = join(picturesDir, `${name}.txt`);
    writeFileSync(events, `${formatTimeline(timeline.between(from, to), from).join('\n')}\n`);
  }
  reports.push({
    index: plan.index,
    seed: plan.seed,
    steps,
    durationMs: to - from,
    notes,
    checks: analysis.checks,
    broken: analysis.broken.length,
    convergenceMs: analysis.convergenceMs,
    epochs: analysis.epochs,
    leaderless: analysis.leaderless,
    decisions,
    picture,
    events,
  });
  const convergence = analysis.convergenceMs.map((ms) => `${(ms / 1000).toFixed(1)}s`).join(' ');
  log(`sequence ${plan.index + 1}: ${analysis.checks.length} checks, ${analysis.broken.length} broken; leaders ${analysis.epochs.map((epoch) => epoch.leader).join(' -> ') || 'none'}; convergence ${convergence || '-'}`);
  if (decisions !== null) log(`  controller: ${Object.entries(decisions).map(([kind, n]) => `${n} ${kind}`).join(', ') || 'no request'}`);
  for (const note of notes) log(`  note: ${note}`);
  for (const window of analysis.leaderless.filter((w) => w.to - w.from >= 3000)) {
    log(`  no leader with quorum for ${((window.to - window.from) / 1000).toFixed(1)}s`);
  }
  for (const check of analysis.broken) log(`  BROKEN ${check.check}: ${check.subject}: ${check.detail}`);
  if (picture !== null) log(`  timeline picture ${picture}, events ${events ?? ''}`);
  writeReport(false);
}

let passed: boolean;
try {
  observer.start();
  log('starting pgpool on all nodes');
  await runner.startAll();
  for (let index = 0; index < sequences && !stopping; index += 1) {
    await runSequence(planSequence(seed, index));
  }
  passed = writeReport(true);
} finally {
  await observer.stop();
  await cluster.stopAll();
  await drill.close();
}
const checks = reports.flatMap((report) => report.checks);
const convergence = percentiles(reports.flatMap((report) => report.convergenceMs));
const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
log(
  `done: seed ${seed}, ${reports.length} sequence(s), ${reports.reduce((sum, report) => sum + report.steps.length, 0)} failure steps, ` +
    `${checks.length} checks, ${checks.filter((check) => check.verdict === 'broken').length} broken; convergence median ${seconds(convergence.medianMs)}, p95 ${seconds(convergence.p95Ms)} (n=${convergence.n})`,
);
if (product) log(`controller: ${Object.entries(totalDecisions()).map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
log(`${reportPath} written${passed ? '' : '; NOT passed'}`);
process.exit(passed ? 0 : 1);
