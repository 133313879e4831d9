import type { RequestDetail } from '../lib/contract.ts';
import { signRequest, stsEndpointFor } from '../lib/proof.ts';
import { blackouts, totalBlackoutMs, type Blackout } from './blackout.ts';
import type { DrillWorld } from './drill-world.ts';
import type { IfCommandRun, PgpoolCluster } from './pgpool-cluster.ts';
import { SLOW_LIFECHECK_NODE } from './pgpool-config.ts';
import { sleep } from './processes.ts';
import { formatTimeline } from './timeline.ts';
import { NODE_INTERFACE, VIP } from './topology.ts';

export type Verdict = 'pass' | 'fail' | 'n/a';

export interface ScenarioResult {
  id: number;
  name: string;
  flavour: string;
  verdict: Verdict;
  /** Why it failed (empty when it passed). */
  problems: string[];
  notes: string[];
  /** Sum of the blackouts in the scenario; null when the VIP never came back. */
  blackoutMs: number | null;
  blackouts: Blackout[];
  /** if_up_cmd start to exit on the node that ended up with the VIP. */
  ifUpMs: number | null;
  /**
   * The blackout from that if_up_cmd's start on: the blackout minus pgpool's own part (the
   * failure detection and the election before it runs if_up_cmd). 0 when no blackout outlasted
   * the start; null when no if_up_cmd ran or the VIP never came back.
   */
  afterIfUpMs: number | null;
  /**
   * The modelled SSM delivery of the add that put the VIP on that node during its if_up_cmd:
   * the part of ifUpMs that is SSM's (null or absent when SSM added nothing).
   */
  ssmAddDeliveryMs?: number | null;
  startedAt: number;
  endedAt: number;
  timeline: string[];
}

export const SCENARIOS = [
  { id: 1, name: 'start' },
  { id: 2, name: 'planned switchover (pgpool -m fast stop)' },
  { id: 3, name: 'crash (kill -9 of the leader)' },
  { id: 4, name: 'isolation (late down) and heal' },
  { id: 5, name: 'non-member request and replayed event' },
] as const;

export interface ScenarioContext {
  drill: DrillWorld;
  cluster: PgpoolCluster;
  flavour: string;
  log: (line: string) => void;
  /** Shows a finished scenario (verdict, notes, timeline) as soon as it is known. */
  report: (result: ScenarioResult) => void;
}

/**
 * A check of the world: what is wrong with it now (empty: as it should be). `thorough` asks for
 * every detail even when a cheap look already found a problem (the last look before giving up).
 */
type Check = (thorough: boolean) => Promise<string[]>;

/**
 * Polls `check` until it has found nothing wrong for stableMs in a row, or timeoutMs passed.
 * Returns the problems of the last look (empty on success).
 */
async function settle(ctx: ScenarioContext, check: Check, timeoutMs: number, stableMs = 1000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let goodSince: number | null = null;
  for (;;) {
    ctx.cluster.poll();
    const problems = await check(Date.now() + 200 >= deadline);
    if (problems.length === 0) {
      goodSince ??= Date.now();
      if (Date.now() - goodSince >= stableMs) return [];
    } else {
      goodSince = null;
    }
    if (Date.now() >= deadline) return problems;
    await sleep(200);
  }
}

/**
 * The VIP is where pgpool's leader is: one escalated node, its last if_up_cmd exited 0, the route
 * table names it, the VIP is on its interface and on no other, and the app host connects.
 */
function converged(ctx: ScenarioContext, since: number, expect: { not?: string } = {}): Check {
  return async (thorough) => {
    const problems: string[] = [];
    const escalated = ctx.cluster.escalatedNodes();
    const leader = escalated.length === 1 ? escalated[0] : undefined;
    if (leader === undefined) problems.push(`pgpool leaders holding the VIP: ${escalated.join(', ') || 'none'}`);
    if (leader !== undefined && leader === expect.not) problems.push(`${leader} still leads`);
    const running = ctx.cluster.ifCommandRuns().filter((run) => run.endedAt === null);
    if (running.length > 0) problems.push(`if commands still running on ${running.map((run) => run.node).join(', ')}`);
    if (leader !== undefined) {
      const up = lastRun(ctx.cluster, leader, 'up', since);
      if (up === undefined) problems.push(`no if_up_cmd ran on ${leader}`);
      else if (up.code !== null && up.code !== 0) problems.push(`if_up_cmd on ${leader} exited ${up.code}: ${up.lastLine}`);
    }
    if (!ctx.drill.appReachesVip()) problems.push(`the app host cannot connect to ${VIP}:9999`);
    // The route table and the interfaces cost a moto call and an `ip` per node: looked at last.
    if (problems.length > 0 && !thorough) return problems;
    const seen = await ctx.drill.observe();
    if (leader !== undefined && seen.routeNode !== leader) problems.push(`route table sends ${VIP} to ${seen.routeNode ?? 'nowhere'}, leader is ${leader}`);
    if (leader !== undefined && (seen.vipOn.length !== 1 || seen.vipOn[0] !== leader)) {
      problems.push(`${VIP} is on ${seen.vipOn.join(', ') || 'no interface'}, leader is ${leader}`);
    }
    return problems;
  };
}

function lastRun(cluster: PgpoolCluster, node: string, action: string, since: number): IfCommandRun | undefined {
  return cluster
    .ifCommandRuns()
    .filter((run) => run.node === node && run.action === action && run.startedAt >= since)
    .pop();
}

function firstRun(cluster: PgpoolCluster, node: string, action: string, since: number): IfCommandRun | undefined {
  return cluster.ifCommandRuns().find((run) => run.node === node && run.action === action && run.startedAt >= since);
}

/** The first if_up_cmd since `since` on the node that leads now. */
function ifUpOf(cluster: PgpoolCluster, since: number): IfCommandRun | undefined {
  const leader = cluster.escalatedNodes()[0];
  return leader === undefined ? undefined : firstRun(cluster, leader, 'up', since);
}

/** The part of the blackouts after `from`; null when one never ended. */
export function blackoutAfter(found: readonly Blackout[], from: number): number | null {
  let total = 0;
  for (const blackout of found) {
    if (blackout.to === null) return null;
    total += Math.max(0, blackout.to - Math.max(blackout.from, from));
  }
  return total;
}

function acquiredSince(ctx: ScenarioContext, node: string, since: number): boolean {
  return ctx.drill.timeline.between(since).some((event) => event.source === node && event.text.startsWith('pgpool: acquired'));
}

/**
 * Starts a scenario from a clean slate: a VIP left on a node that is not pgpool's leader (the
 * article's script never fences a crashed node) is removed first, so each scenario shows its
 * own effect. pgpool-vip's controller leaves nothing to remove.
 */
async function tidy(ctx: ScenarioContext, notes: string[]): Promise<void> {
  const leader = ctx.cluster.escalatedNodes()[0];
  const seen = await ctx.drill.observe();
  for (const node of seen.vipOn.filter((name) => name !== leader)) {
    await ctx.drill.removeVip(node);
    ctx.drill.timeline.add('drill', `removed ${VIP} left on ${node}'s interface by the previous scenario`);
    notes.push(`before the scenario the drill removed ${VIP} left on ${node} (nothing had fenced it)`);
  }
}

const REJOIN_HEARTBEAT_MS = 4000;

/** pgpool's own ping check of the VIP passed on `node` (it logs "successfully acquired"). */
function acquired(ctx: ScenarioContext, node: string, since: number): Check {
  return () =>
    Promise.resolve(acquiredSince(ctx, node, since) ? [] : [`pgpool on ${node} never logged that it acquired the delegate IP`]);
}

async function rejoin(ctx: ScenarioContext, node: string, problems: string[]): Promise<void> {
  ctx.cluster.start(node);
  const deadline = Date.now() + 25_000;
  while (Date.now() < deadline) {
    ctx.cluster.poll();
    if (ctx.cluster.watchdogState(node) === 'STANDBY' || ctx.cluster.watchdogState(node) === 'LEADER') {
      // pgpool's lifecheck declares a node lost only after it has heard that node's heartbeats:
      // give the restarted node time to hear the others before the next scenario cuts them off.
      await sleep(REJOIN_HEARTBEAT_MS);
      return;
    }
    await sleep(200);
  }
  problems.push(`${node} did not rejoin the watchdog cluster after restart (state ${ctx.cluster.watchdogState(node)})`);
}

function result(ctx: ScenarioContext, id: number, problems: string[], notes: string[], startedAt: number, ifUp: IfCommandRun | null | undefined, na = false): ScenarioResult {
  const endedAt = Date.now();
  const found = blackouts(ctx.drill.samples, startedAt, endedAt);
  const name = SCENARIOS.find((scenario) => scenario.id === id)?.name ?? String(id);
  return {
    id,
    name,
    flavour: ctx.flavour,
    verdict: na ? 'n/a' : problems.length === 0 ? 'pass' : 'fail',
    problems,
    notes,
    blackoutMs: totalBlackoutMs(found),
    blackouts: found,
    ifUpMs: ifUp?.endedAt == null ? null : ifUp.endedAt - ifUp.startedAt,
    afterIfUpMs: ifUp == null ? null : blackoutAfter(found, ifUp.startedAt),
    ssmAddDeliveryMs: ifUp?.endedAt == null ? null : (ctx.drill.ssmAddOn(ifUp.node, ifUp.startedAt, ifUp.endedAt)?.deliveryMs ?? null),
    startedAt,
    endedAt,
    timeline: formatTimeline(ctx.drill.timeline.between(startedAt, endedAt), startedAt),
  };
}

/** 1: all three nodes start; the leader's if_up_cmd puts the route and the VIP on it. */
async function start(ctx: ScenarioContext): Promise<ScenarioResult> {
  const startedAt = Date.now();
  ctx.drill.timeline.add('drill', `scenario 1 (${ctx.flavour}): start pgpool on all nodes`);
  // The node with the highest priority starts first: it usually wins the first election.
  for (const host of ctx.cluster.hosts) {
    ctx.cluster.start(host.name);
    if (host.index === 0) await sleep(1000);
  }
  const problems = await settle(ctx, converged(ctx, startedAt), 60_000);
  const leader = ctx.cluster.escalatedNodes()[0];
  if (problems.length === 0 && leader !== undefined && !acquiredSince(ctx, leader, startedAt)) {
    problems.push(...(await settle(ctx, acquired(ctx, leader, startedAt), 10_000, 0)));
  }
  const notes = leader === undefined ? [] : [`leader ${leader}`];
  return result(ctx, 1, problems, notes, startedAt, ifUpOf(ctx.cluster, startedAt));
}

/** 2: `pgpool -m fast stop` on the leader; a standby takes over; the old leader rejoins. */
async function plannedSwitchover(ctx: ScenarioContext): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const leader = ctx.cluster.escalatedNodes()[0];
  if (leader === undefined) return result(ctx, 2, ['no leader before the scenario'], [], startedAt, null);
  const notes: string[] = [];
  await tidy(ctx, notes);
  ctx.drill.timeline.add('drill', `scenario 2 (${ctx.flavour}): planned stop of leader ${leader}`);
  await ctx.cluster.stopFast(leader);
  const problems = await settle(ctx, converged(ctx, startedAt, { not: leader }), 30_000);
  const next = ctx.cluster.escalatedNodes()[0];
  if (problems.length === 0 && next !== undefined && !acquiredSince(ctx, next, startedAt)) {
    problems.push(...(await settle(ctx, acquired(ctx, next, startedAt), 10_000, 0)));
  }
  const ifUp = ifUpOf(ctx.cluster, startedAt);
  await rejoin(ctx, leader, problems);
  problems.push(...(await settle(ctx, converged(ctx, startedAt), problems.length === 0 ? 20_000 : 3000)));
  return result(ctx, 2, problems, [`${leader} -> ${next ?? 'none'}`, ...notes], startedAt, ifUp);
}

/** 3: kill -9 of the leader's pgpool: no if_down_cmd; the VIP must leave the dead node's interface too. */
async function crash(ctx: ScenarioContext): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const leader = ctx.cluster.escalatedNodes()[0];
  if (leader === undefined) return result(ctx, 3, ['no leader before the scenario'], [], startedAt, null);
  const notes: string[] = [];
  await tidy(ctx, notes);
  ctx.drill.timeline.add('drill', `scenario 3 (${ctx.flavour}): kill -9 leader ${leader}`);
  await ctx.cluster.crash(leader);
  const problems = await settle(ctx, converged(ctx, startedAt, { not: leader }), 30_000);
  const next = ctx.cluster.escalatedNodes()[0];
  const ifUp = ifUpOf(ctx.cluster, startedAt);
  const seen = await ctx.drill.observe();
  notes.unshift(`${leader} -> ${next ?? 'none'}`, `VIP after the crash on: ${seen.vipOn.join(', ') || 'none'}`);
  await rejoin(ctx, leader, problems);
  problems.push(...(await settle(ctx, converged(ctx, startedAt), problems.length === 0 ? 20_000 : 3000)));
  return result(ctx, 3, problems, notes, startedAt, ifUp);
}

/**
 * Hands leadership to `wanted` with planned stops of whoever leads (pgpool elections do not
 * always follow wd_priority), so scenario 4 isolates the node with the slow lifecheck.
 */
async function arrangeLeader(ctx: ScenarioContext, wanted: string, notes: string[]): Promise<string[]> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const leader = ctx.cluster.escalatedNodes()[0];
    if (leader === wanted) return [];
    if (leader === undefined) return ['arranging the leader: no leader to hand over from'];
    notes.push(`before the scenario the drill stopped ${leader} (planned) so that ${wanted} leads`);
    ctx.drill.timeline.add('drill', `arranging: ${wanted} must lead; planned stop of ${leader}`);
    const since = Date.now();
    await ctx.cluster.stopFast(leader);
    const problems = await settle(ctx, converged(ctx, since, { not: leader }), 30_000);
    await rejoin(ctx, leader, problems);
    problems.push(...(await settle(ctx, converged(ctx, since), problems.length === 0 ? 20_000 : 3000)));
    if (problems.length > 0) return problems.map((problem) => `arranging the leader: ${problem}`);
  }
  return ctx.cluster.escalatedNodes()[0] === wanted ? [] : [`arranging the leader: ${wanted} never won an election`];
}

/**
 * 4: the leader is cut off from the other pgpool nodes (it still reaches AWS). The others elect
 * a new leader; the old leader's if_down_cmd comes later (its lifecheck is slower). The route
 * must stay on the new leader. Then the partition heals and the cluster settles again.
 */
async function isolation(ctx: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  await tidy(ctx, notes);
  const arranged = await arrangeLeader(ctx, SLOW_LIFECHECK_NODE, notes);
  const startedAt = Date.now();
  if (arranged.length > 0) return result(ctx, 4, arranged, notes, startedAt, null);
  const leader = ctx.cluster.escalatedNodes()[0];
  if (leader === undefined) return result(ctx, 4, ['no leader before the scenario'], notes, startedAt, null);
  const problems: string[] = [];
  ctx.drill.timeline.add('drill', `scenario 4 (${ctx.flavour}): isolate leader ${leader}`);
  ctx.drill.isolate(leader);
  let newLeader: string | undefined;
  let newUp: IfCommandRun | undefined;
  let lateDown: IfCommandRun | undefined;
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    ctx.cluster.poll();
    newLeader = ctx.cluster.escalatedNodes().find((node) => node !== leader);
    newUp = newLeader === undefined ? undefined : firstRun(ctx.cluster, newLeader, 'up', startedAt);
    lateDown = firstRun(ctx.cluster, leader, 'down', startedAt);
    if (newUp?.endedAt != null && lateDown?.endedAt != null) break;
    await sleep(100);
  }
  if (newLeader === undefined || newUp === undefined) problems.push('no new leader ran if_up_cmd during the isolation');
  if (lateDown === undefined) problems.push(`${leader} never ran if_down_cmd during the isolation`);
  if (newUp !== undefined && lateDown !== undefined) {
    const gap = ((lateDown.startedAt - newUp.startedAt) / 1000).toFixed(2);
    notes.push(`old leader ${leader}'s down started ${gap}s after new leader ${newLeader ?? '?'}'s up`);
    if (lateDown.startedAt <= newUp.startedAt) problems.push('precondition: the old leader\'s down did not come after the new leader\'s up');
  }
  // The late down has run: the VIP must stay with the new leader.
  const isolated = await settle(ctx, converged(ctx, startedAt, { not: leader }), 8000, 2000);
  problems.push(...isolated.map((problem) => `after the late down: ${problem}`));
  const healAt = Date.now();
  // Once the route reached the new leader it must not have left it while the partition lasted.
  const changes = ctx.drill.routeChanges.filter((change) => change.at >= startedAt && change.at <= healAt);
  const arrived = changes.findIndex((change) => change.node === newLeader);
  for (const change of arrived < 0 ? [] : changes.slice(arrived + 1)) {
    if (change.node !== newLeader) {
      problems.push(`during the isolation the route left the new leader ${newLeader ?? '?'}: -> ${change.node ?? 'nowhere'} at +${((change.at - startedAt) / 1000).toFixed(2)}s`);
    }
  }
  ctx.drill.heal(leader);
  const healed = await settle(ctx, converged(ctx, startedAt), 20_000, 2000);
  problems.push(...healed.map((problem) => `after the heal: ${problem}`));
  notes.push(`after the heal the VIP is with ${ctx.cluster.escalatedNodes().join(', ') || 'nobody'}`);
  notes.push(`heal at +${((healAt - startedAt) / 1000).toFixed(1)}s`);
  return result(ctx, 4, problems, notes, startedAt, newUp);
}

/** 5: an untagged instance asks for the VIP, and an old event is replayed: both refused, nothing moves. */
async function refusedRequests(ctx: ScenarioContext): Promise<ScenarioResult> {
  const startedAt = Date.now();
  const { drill } = ctx;
  drill.timeline.add('drill', `scenario 5 (${ctx.flavour}): non-member request and replays`);
  const problems: string[] = [];
  const notes: string[] = [];
  const before = await drill.observe();
  const outcomeOf = async (requestId: string, after: number): Promise<string | null> => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const found = drill.results.slice(after).find((entry) => entry.requestId === requestId);
      if (found !== undefined) return `${found.outcome}${found.duplicate ? ' (duplicate ignored)' : ''}: ${found.reason ?? ''}`;
      await sleep(100);
    }
    return null;
  };
  const put = (detail: RequestDetail): Promise<void> => drill.putRequest(detail);

  const stranger = await drill.createNonMember();
  const request = await signRequest(
    { action: 'up', cluster: drill.world.config.clusters[0]?.name ?? 'demo', vip: VIP, instanceId: stranger.instanceId, eni: stranger.eni, interface: NODE_INTERFACE },
    { region: drill.world.region, credentials: stranger.credentials, stsEndpoint: stsEndpointFor(drill.world.region, { AWS_ENDPOINT_URL: drill.frontDoor.endpoint }) },
  );
  let mark = drill.results.length;
  await put(request);
  drill.timeline.add('drill', `non-member ${stranger.instanceId} (untagged) asks for the VIP`);
  const strangerOutcome = await outcomeOf(request.requestId, mark);
  notes.push(`non-member request: ${strangerOutcome ?? 'no outcome'}`);
  if (strangerOutcome === null || !strangerOutcome.startsWith('rejected')) problems.push(`non-member request was not rejected (${strangerOutcome ?? 'no outcome'})`);

  // The first request of the run (long past the proof's freshness) and the latest one of a member.
  const members = drill.capturedRequests.filter((request) => drill.world.instances.some((instance) => instance.instanceId === request.instanceId));
  const replays = [members[0], members[members.length - 1]];
  for (const [index, replay] of replays.entries()) {
    if (replay === undefined) {
      problems.push('no request was captured on the bus to replay');
      continue;
    }
    const age = ((Date.now() - Date.parse(replay.issuedAt)) / 1000).toFixed(0);
    mark = drill.results.length;
    await put(replay);
    const from = drill.nodeOf(replay.instanceId);
    drill.timeline.add('drill', `replay of ${from ?? '?'}'s ${replay.action} request ${replay.requestId} (${age}s old)`);
    const outcome = await outcomeOf(replay.requestId, mark);
    notes.push(`replay ${index === 0 ? 'of the first' : 'of the latest'} request (${replay.action} from ${from ?? '?'}, ${age}s old): ${outcome ?? 'no outcome'}`);
    const refused = outcome !== null && (outcome.startsWith('rejected') || outcome.includes('duplicate ignored'));
    if (!refused) problems.push(`replayed request was acted on (${outcome ?? 'no outcome'})`);
  }
  await sleep(1500);
  const after = await drill.observe();
  if (after.routeNode !== before.routeNode) problems.push(`route moved from ${before.routeNode ?? 'none'} to ${after.routeNode ?? 'none'}`);
  if (after.vipOn.join() !== before.vipOn.join()) problems.push(`VIP moved from ${before.vipOn.join()} to ${after.vipOn.join()}`);
  if (!drill.appReachesVip()) problems.push('the app host cannot connect to the VIP');
  return result(ctx, 5, problems, notes, startedAt, null);
}

/** Runs the five scenarios in order against one pgpool cluster. */
export async function runScenarios(
  ctx: ScenarioContext,
  options: { refusals: boolean; shouldStop: () => boolean },
): Promise<ScenarioResult[]> {
  const steps = [start, plannedSwitchover, crash, isolation];
  const results: ScenarioResult[] = [];
  for (const step of steps) {
    if (options.shouldStop()) break;
    const outcome = await step(ctx);
    ctx.report(outcome);
    results.push(outcome);
  }
  if (!options.shouldStop()) {
    if (options.refusals) {
      const outcome = await refusedRequests(ctx);
      ctx.report(outcome);
      results.push(outcome);
    } else {
      const startedAt = Date.now();
      results.push(result(ctx, 5, [], ['the article has no request to refuse: any principal allowed ec2:ReplaceRoute moves the route'], startedAt, null, true));
    }
  }
  return results;
}
