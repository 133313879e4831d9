/**
 * The soak's checks, as pure functions of what the observer recorded during one sequence: the
 * world sampled every few hundred ms, every route change, every if command run, every connect
 * of the app host, and the ledger's answers. Nothing here touches the world.
 */
import type { IfCommandRun } from '../pgpool-cluster.ts';

/** One look at the world. */
export interface WorldSample {
  t: number;
  /** The leader pgpool names (escalated with quorum; see PgpoolCluster.namedLeader), or null. */
  leader: string | null;
  /** When that leader's escalation started (pgpool's log), null without a leader. */
  leaderSince: number | null;
  /** Per route table, the node VIP/32 points to (null: no route). */
  routes: Array<string | null>;
  /** Nodes with the VIP on their interface. */
  vipOn: string[];
}

export interface RouteChange {
  at: number;
  table: number;
  node: string | null;
}

/** One if_up_cmd/if_down_cmd run as the checks see it (the cluster's record without its id). */
export type IfRun = Omit<IfCommandRun, 'id'>;

export interface AppSample {
  t: number;
  ok: boolean;
}

/** One request of the sequence, as the ledger and the controller saw it. */
export interface LedgerEntry {
  requestId: string;
  node: string;
  action: string;
  /** The ledger item's status (null: no item). */
  status: string | null;
  /** Controller results that acted on it (not duplicates, not failed attempts). */
  actedOn: number;
}

/** A fence the controller sent for a node's `up` (pgpool-vip), and when the SSM agents had run it. */
export interface FenceRun {
  /** The node whose `up` fenced the others. */
  node: string;
  /** When the last of the fenced instances had run the command (null: not all of them ran it). */
  doneAt: number | null;
  sentAt: number;
}

export interface SequenceRecord {
  from: number;
  to: number;
  /** Fences sent by the controller; empty for a script that does not fence (the article's). */
  fences: FenceRun[];
  samples: WorldSample[];
  routeChanges: RouteChange[];
  ifRuns: IfRun[];
  app: AppSample[];
  /** null: the script has no ledger (the article's). */
  ledger: LedgerEntry[] | null;
}

export const CHECK_NAMES = ['converge', 'fence', 'no-ping-pong', 'leader-up-exit', 'ledger', 'no-flap'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface CheckResult {
  check: CheckName;
  /** What it was about: an epoch of a leader, a leaderless window, or the ledger. */
  subject: string;
  verdict: 'pass' | 'broken' | 'n/a';
  detail: string;
  at: number;
}

export interface Epoch {
  leader: string;
  from: number;
  to: number;
  /** When pgpool escalated the leader (before `from` for a leader already leading when the sequence started). */
  since: number;
  /** pgpool started the leader's if_up_cmd (null: it never did within the epoch). */
  upStartedAt: number | null;
  /** First moment all of routes, interface and app agreed on the leader for a second. */
  convergedAt: number | null;
}

export interface LeaderlessWindow {
  from: number;
  to: number;
}

export interface SequenceAnalysis {
  epochs: Epoch[];
  leaderless: LeaderlessWindow[];
  checks: CheckResult[];
  /** if_up_cmd start to convergence, per epoch that converged. */
  convergenceMs: number[];
  broken: CheckResult[];
}

/** The promise: within this long of the leader's if_up_cmd start, routes, interface and app follow it. */
export const CONVERGE_WITHIN_MS = 15_000;
/** Convergence must hold this long to count (a glimpse of the right route is not convergence). */
export const STABLE_MS = 1000;
/** Samples are a few hundred ms apart: a VIP seen on another node right at fencing is not yet a fault. */
export const FENCE_GRACE_MS = 1000;
/** Shorter leaderless gaps are the moment between one leader's loss and the next one's escalation. */
export const LEADERLESS_NOTE_MS = 3000;

const rel = (at: number, origin: number): string => `+${((at - origin) / 1000).toFixed(1)}s`;

/** Splits the samples into stretches with one named leader, and the stretches with none. */
export function epochsOf(record: SequenceRecord): { epochs: Array<Omit<Epoch, 'upStartedAt' | 'convergedAt'>>; leaderless: LeaderlessWindow[] } {
  const epochs: Array<Omit<Epoch, 'upStartedAt' | 'convergedAt'>> = [];
  const leaderless: LeaderlessWindow[] = [];
  type Stretch = { leader: string | null; since: number | null; from: number };
  const close = (stretch: Stretch | null, to: number): void => {
    if (stretch === null) return;
    if (stretch.leader === null) leaderless.push({ from: stretch.from, to });
    else epochs.push({ leader: stretch.leader, from: stretch.from, to, since: stretch.since ?? stretch.from });
  };
  let current: Stretch | null = null as Stretch | null;
  for (const sample of record.samples) {
    if (current !== null && current.leader === sample.leader && current.since === sample.leaderSince) continue;
    // An epoch starts when pgpool escalated, which the log shows a little before the sample does.
    // An escalation logged after the previous stretch began starts this one; an older one (a
    // leadership pgpool resumes after another node's) starts when pgpool names it again.
    const previousFrom: number = current?.from ?? record.from;
    const from = sample.leader !== null && sample.leaderSince !== null && sample.leaderSince >= previousFrom ? Math.min(sample.t, sample.leaderSince) : sample.t;
    close(current, from);
    current = { leader: sample.leader, since: sample.leaderSince, from };
  }
  close(current, record.to);
  return { epochs, leaderless };
}

/** Route changes of one table in (from, to]. */
function changesIn(record: SequenceRecord, table: number, from: number, to: number): RouteChange[] {
  return record.routeChanges.filter((change) => change.table === table && change.at > from && change.at <= to);
}

function tableCount(record: SequenceRecord): number {
  return Math.max(1, ...record.samples.map((sample) => sample.routes.length));
}

/** The earliest moment in [from, to] after which routes, interface and app agree on `leader` for STABLE_MS. */
export function convergedAt(record: SequenceRecord, leader: string, from: number, to: number): number | null {
  const good = (sample: WorldSample): boolean => sample.routes.every((node) => node === leader) && sample.vipOn.includes(leader);
  const samples = record.samples.filter((sample) => sample.t >= from && sample.t <= to);
  for (const [index, start] of samples.entries()) {
    if (!good(start)) continue;
    const end = start.t + STABLE_MS;
    if (end > to) return null;
    const window = samples.slice(index).filter((sample) => sample.t <= end);
    if (!window.every(good)) continue;
    const connects = record.app.filter((sample) => sample.t >= start.t && sample.t <= end);
    if (connects.length < 5 || !connects.every((sample) => sample.ok)) continue;
    return start.t;
  }
  return null;
}

/** What is wrong with the world at time t, for a broken convergence. */
function stateAt(record: SequenceRecord, leader: string, t: number): string {
  const sample = [...record.samples].reverse().find((candidate) => candidate.t <= t) ?? record.samples[0];
  if (sample === undefined) return 'no sample';
  const connects = record.app.filter((entry) => entry.t >= t - STABLE_MS && entry.t <= t);
  const ok = connects.filter((entry) => entry.ok).length;
  return `leader ${leader}; routes -> ${sample.routes.map((node) => node ?? 'none').join(', ')}; VIP on ${sample.vipOn.join(', ') || 'no interface'}; app ${ok}/${connects.length} connects ok`;
}

/**
 * fence and no-ping-pong for one leadership: once fencing is done (the leader's if_up_cmd exited
 * and the SSM agents ran the fence it caused), the VIP is on no other node; and at most one route
 * change per table. `fencedBy` null: fencing was not done within the leadership; undefined: it
 * was done before the sequence began.
 */
function afterConvergence(
  record: SequenceRecord,
  stretch: { leader: string; from: number; to: number },
  previous: { leader: string } | undefined,
  tables: number,
  origin: number,
  fencedBy?: number | null,
): CheckResult[] {
  const checks: CheckResult[] = [];
  const { leader, from, to } = stretch;
  const subject = `leader ${leader} from ${rel(from, origin)}`;
  const exited = fencedBy === undefined ? from : fencedBy;
  if (exited !== null && exited < to) {
    const fencedAt = exited + FENCE_GRACE_MS;
    const others = record.samples.filter((sample) => sample.t >= fencedAt && sample.t <= to && sample.vipOn.some((node) => node !== leader));
    const first = others[0];
    if (first === undefined) {
      checks.push({ check: 'fence', subject, verdict: 'pass', detail: `fenced by ${rel(exited, origin)}; from then on the VIP was on no other node`, at: fencedAt });
    } else {
      const last = others[others.length - 1] ?? first;
      const nodes = [...new Set(others.flatMap((sample) => sample.vipOn.filter((node) => node !== leader)))];
      checks.push({ check: 'fence', subject, verdict: 'broken', detail: `VIP on ${nodes.join(', ')} from ${rel(first.t, origin)} to ${rel(last.t, origin)} while ${leader} led`, at: first.t });
    }
  } else {
    checks.push({ check: 'fence', subject, verdict: 'n/a', detail: 'fencing was not done before the leadership ended', at: to });
  }
  const worst = Array.from({ length: tables }, (_, table) => changesIn(record, table, from, to)).reduce((a, b) => (b.length > a.length ? b : a), [] as RouteChange[]);
  const path = worst.map((change) => `${change.node ?? 'none'} at ${rel(change.at, origin)}`).join(', ');
  checks.push({
    check: 'no-ping-pong',
    subject,
    verdict: worst.length <= 1 ? 'pass' : 'broken',
    detail: `${worst.length} route change(s) while ${leader} led${previous === undefined ? '' : ` (after ${previous.leader})`}${path === '' ? '' : `: ${path}`}`,
    at: worst[1]?.at ?? from,
  });
  return checks;
}

/** Runs every check on one sequence's record. `origin` is where +0.0s is in the details. */
export function analyzeSequence(record: SequenceRecord, origin = record.from): SequenceAnalysis {
  const { epochs: stretches, leaderless } = epochsOf(record);
  const checks: CheckResult[] = [];
  const convergenceMs: number[] = [];
  const epochs: Epoch[] = [];
  const tables = tableCount(record);

  for (const [index, stretch] of stretches.entries()) {
    const { leader, from, to, since } = stretch;
    const subject = `leader ${leader} from ${rel(from, origin)}`;
    const cutShort = to < record.to;
    if (since < record.from && index === 0) {
      // Leading since before the sequence: its convergence was judged where it began.
      epochs.push({ ...stretch, upStartedAt: null, convergedAt: null });
      checks.push(...afterConvergence(record, stretch, stretches[index - 1], tables, origin));
      continue;
    }
    // A leadership pgpool resumes (escalated before an earlier leader's) is judged from the
    // moment pgpool names it again.
    const start = since < from ? from : since;
    const up = record.ifRuns.find((run) => run.node === leader && run.action === 'up' && run.startedAt >= start - 2000 && run.startedAt <= to);
    if (up === undefined && since < from) {
      const converged = convergedAt(record, leader, from, to);
      epochs.push({ ...stretch, upStartedAt: null, convergedAt: converged });
      if (converged !== null && converged - from <= CONVERGE_WITHIN_MS) {
        checks.push({ check: 'converge', subject, verdict: 'pass', detail: `pgpool named ${leader} leader again; converged ${((converged - from) / 1000).toFixed(2)}s later`, at: converged });
      } else if (to - from < CONVERGE_WITHIN_MS + STABLE_MS && cutShort && converged === null) {
        checks.push({ check: 'converge', subject, verdict: 'n/a', detail: `leadership resumed by pgpool ended ${((to - from) / 1000).toFixed(1)}s later, before the 15 s were up`, at: to });
      } else {
        checks.push({ check: 'converge', subject, verdict: 'broken', detail: `pgpool named ${leader} leader again (its escalation is older) and ran no if_up_cmd; ${converged === null ? 'never converged' : `converged only after ${((converged - from) / 1000).toFixed(2)}s`}; at +15s: ${stateAt(record, leader, from + CONVERGE_WITHIN_MS)}`, at: from + CONVERGE_WITHIN_MS });
      }
      checks.push(...afterConvergence(record, stretch, stretches[index - 1], tables, origin, converged));
      continue;
    }
    if (up === undefined) {
      const verdict = to - from < CONVERGE_WITHIN_MS ? 'n/a' : 'broken';
      checks.push({ check: 'leader-up-exit', subject, verdict, detail: `pgpool escalated ${leader} but no if_up_cmd started (epoch of ${((to - from) / 1000).toFixed(1)}s)`, at: from });
      epochs.push({ ...stretch, upStartedAt: null, convergedAt: null });
      continue;
    }
    const t0 = up.startedAt;
    // converge
    const converged = convergedAt(record, leader, t0, to);
    epochs.push({ ...stretch, upStartedAt: t0, convergedAt: converged });
    if (converged !== null && converged - t0 <= CONVERGE_WITHIN_MS) {
      convergenceMs.push(converged - t0);
      checks.push({ check: 'converge', subject, verdict: 'pass', detail: `converged ${((converged - t0) / 1000).toFixed(2)}s after if_up_cmd started`, at: converged });
    } else if (to - t0 < CONVERGE_WITHIN_MS + STABLE_MS && cutShort && converged === null) {
      checks.push({ check: 'converge', subject, verdict: 'n/a', detail: `leadership ended ${((to - t0) / 1000).toFixed(1)}s after if_up_cmd started, before the 15 s were up`, at: to });
    } else {
      const late = converged === null ? 'never converged' : `converged only after ${((converged - t0) / 1000).toFixed(2)}s`;
      checks.push({ check: 'converge', subject, verdict: 'broken', detail: `${late}; at +15s: ${stateAt(record, leader, t0 + CONVERGE_WITHIN_MS)}`, at: t0 + CONVERGE_WITHIN_MS });
    }
    if (converged !== null && converged - t0 > CONVERGE_WITHIN_MS) convergenceMs.push(converged - t0);
    // leader-up-exit: every if_up_cmd pgpool ran on the leader during its leadership (the
    // escalation's, and the watchdog's own re-acquires) exits 0.
    const ups = record.ifRuns.filter((run) => run.node === leader && run.action === 'up' && run.startedAt >= start - 2000 && run.startedAt <= to);
    const failed = ups.filter((run) => run.endedAt !== null && run.code !== 0);
    const unfinished = ups.filter((run) => run.endedAt === null);
    if (failed.length > 0) {
      const first = failed[0] ?? up;
      const detail = failed.map((run) => `if_up_cmd on ${leader} started ${rel(run.startedAt, origin)} exited ${run.code ?? '?'} after ${(((run.endedAt ?? run.startedAt) - run.startedAt) / 1000).toFixed(2)}s: ${run.lastLine}`).join('; ');
      checks.push({ check: 'leader-up-exit', subject, verdict: 'broken', detail: `${failed.length} of ${ups.length}: ${detail}`, at: first.endedAt ?? first.startedAt });
    } else if (unfinished.length > 0) {
      checks.push({ check: 'leader-up-exit', subject, verdict: cutShort ? 'n/a' : 'broken', detail: `if_up_cmd on ${leader} still running ${((to - (unfinished[0]?.startedAt ?? t0)) / 1000).toFixed(1)}s after it started`, at: to });
    } else {
      checks.push({ check: 'leader-up-exit', subject, verdict: 'pass', detail: `${ups.length} if_up_cmd run(s) on ${leader} exited 0; the first after ${(((up.endedAt ?? t0) - t0) / 1000).toFixed(2)}s`, at: up.endedAt ?? t0 });
    }
    // Fencing is sent, not awaited, by the controller: it is done once the SSM agents ran it.
    const fences = record.fences.filter((run) => run.node === leader && run.sentAt >= t0 && run.sentAt <= to);
    const fenceDone = fences.length === 0 ? up.endedAt : Math.max(up.endedAt ?? 0, ...fences.map((run) => run.doneAt ?? Number.POSITIVE_INFINITY));
    checks.push(...afterConvergence(record, stretch, stretches[index - 1], tables, origin, fenceDone === Number.POSITIVE_INFINITY ? null : fenceDone));
  }

  for (const window of leaderless) {
    if (window.to - window.from < LEADERLESS_NOTE_MS) continue;
    const subject = `no leader with quorum ${rel(window.from, origin)} to ${rel(window.to, origin)}`;
    const problems: string[] = [];
    for (let table = 0; table < tables; table += 1) {
      const changes = changesIn(record, table, window.from, window.to);
      const before = [...record.samples].reverse().find((sample) => sample.t <= window.from)?.routes[table] ?? null;
      const seen = new Set<string | null>([before]);
      const returned = changes.some((change) => {
        const back = seen.has(change.node);
        seen.add(change.node);
        return back;
      });
      if (changes.length > 1 || returned) {
        problems.push(`table ${table + 1}: route ${[before, ...changes.map((change) => change.node)].map((node) => node ?? 'none').join(' -> ')}`);
      }
    }
    const inWindow = record.samples.filter((sample) => sample.t >= window.from && sample.t <= window.to);
    const gained = new Set<string>();
    for (const [index, sample] of inWindow.entries()) {
      const before = inWindow[index - 1];
      if (before === undefined) continue;
      for (const node of sample.vipOn) if (!before.vipOn.includes(node)) gained.add(node);
    }
    if (gained.size > 0) problems.push(`the VIP was added to ${[...gained].join(', ')} with no leader`);
    checks.push({
      check: 'no-flap',
      subject,
      verdict: problems.length === 0 ? 'pass' : 'broken',
      detail: problems.length === 0 ? 'nothing moved back and forth' : problems.join('; '),
      at: window.from,
    });
  }

  if (record.ledger !== null) {
    const problems: string[] = [];
    for (const entry of record.ledger) {
      if (entry.status === null) problems.push(`${entry.action} ${entry.requestId} from ${entry.node}: no ledger item`);
      else if (entry.status === 'claimed') problems.push(`${entry.action} ${entry.requestId} from ${entry.node}: claimed, never given an outcome`);
      if (entry.actedOn > 1) problems.push(`${entry.action} ${entry.requestId} from ${entry.node}: acted on ${entry.actedOn} times`);
    }
    checks.push({
      check: 'ledger',
      subject: `${record.ledger.length} request(s)`,
      verdict: problems.length === 0 ? 'pass' : 'broken',
      detail: problems.length === 0 ? 'every request has exactly one outcome' : problems.join('; '),
      at: record.to,
    });
  } else {
    checks.push({ check: 'ledger', subject: 'no ledger', verdict: 'n/a', detail: 'the article\'s script keeps no ledger', at: record.to });
  }

  return { epochs, leaderless, checks, convergenceMs, broken: checks.filter((check) => check.verdict === 'broken') };
}

/** Median and 95th percentile (nearest rank) of a list of durations. */
export function percentiles(values: readonly number[]): { n: number; medianMs: number | null; p95Ms: number | null; maxMs: number | null } {
  if (values.length === 0) return { n: 0, medianMs: null, p95Ms: null, maxMs: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { n: sorted.length, medianMs: rank(0.5), p95Ms: rank(0.95), maxMs: sorted[sorted.length - 1] ?? null };
}
