import type { DrillWorld } from '../drill-world.ts';
import type { PgpoolCluster } from '../pgpool-cluster.ts';
import { sleep } from '../processes.ts';
import type { Timeline } from '../timeline.ts';
import { NODES, VIP } from '../topology.ts';
import { describeStep, type Fault, type Step, type Target } from './plan.ts';

/** One drill action of a step, as it happened. */
export interface StepAction {
  at: number;
  text: string;
}

export interface StepRecord {
  step: Step;
  description: string;
  startedAt: number;
  endedAt: number;
  actions: StepAction[];
}

export interface SoakRunnerOptions {
  drill: DrillWorld;
  cluster: PgpoolCluster;
  timeline: Timeline;
  log: (line: string) => void;
  shouldStop: () => boolean;
}

/** With pgpool's default lifecheck (deadtime 30 s, checked every 10 s) a lost node is declared within about 40 s. */
const LEADER_REACTION_MS = 100_000;
const STANDBY_REACTION_MS = 60_000;
/** After a restart, the node must have heard the others' heartbeats (every 2 s) before the next cut. */
const REJOIN_MS = 90_000;
const HEARD_HEARTBEATS_MS = 6000;
const QUIET_STABLE_MS = 3000;

/**
 * Carries out the steps of a sequence against the three pgpool nodes. Every wait is bounded;
 * a target role (leader, standby) is resolved to a node when the action happens.
 */
export class SoakRunner {
  public readonly quietTimeoutMs = 120_000;
  private readonly isolated = new Set<string>();
  private actions: StepAction[] = [];

  public constructor(private readonly options: SoakRunnerOptions) {}

  private get cluster(): PgpoolCluster {
    return this.options.cluster;
  }

  private act(text: string): void {
    const at = Date.now();
    this.actions.push({ at, text });
    this.options.timeline.add('drill', text, at);
  }

  /** Starts all three nodes and waits until they have settled on a leader. */
  public async startAll(): Promise<void> {
    for (const node of NODES) this.cluster.start(node.name);
    const problems = await this.quiet();
    if (problems.length > 0) this.options.log(`the cluster did not settle after the start: ${problems.join('; ')}`);
  }

  /** Before a sequence: every node running, no partition, and settled. Returns notes. */
  public async healthy(): Promise<string[]> {
    this.actions = [];
    const notes: string[] = [];
    for (const node of [...this.isolated]) {
      this.options.drill.heal(node);
      this.isolated.delete(node);
      notes.push(`healed ${node} left isolated`);
    }
    for (const node of NODES) {
      if (!this.cluster.isRunning(node.name)) {
        this.cluster.start(node.name);
        notes.push(`started ${node.name} left stopped`);
      }
    }
    const problems = await this.quiet();
    if (problems.length === 0) return notes;
    // A VIP lost in the last sequence stays lost (pgpool never retries a failed if_up_cmd): each
    // sequence starts from a clean slate, so one loss is not counted again in every later one.
    notes.push(`not settled before the sequence (${problems.join('; ')}): pgpool stopped on all nodes, the VIP and the route removed, pgpool started again`);
    this.act('clean slate: stop every pgpool, remove the VIP and the route, start again');
    await this.cluster.stopAll();
    await this.options.drill.resetVip();
    await this.startAll();
    return notes;
  }

  /**
   * Waits until the cluster is settled: every running node is a watchdog member, pgpool names a
   * leader, no if command runs, the leader's last if_up_cmd exited 0, every route table and the
   * interfaces name the leader, and the app connects, for QUIET_STABLE_MS in a row. Returns what
   * was still wrong when the time ran out (empty: settled).
   */
  public async quiet(timeoutMs = this.quietTimeoutMs): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let goodSince: number | null = null;
    let problems: string[] = [];
    while (!this.options.shouldStop()) {
      this.cluster.poll();
      problems = [];
      const leader = this.cluster.namedLeader();
      for (const node of NODES) {
        if (!this.cluster.isRunning(node.name)) continue;
        const state = this.cluster.watchdogState(node.name);
        if (state !== 'STANDBY' && state !== 'LEADER') problems.push(`${node.name} is ${state}`);
      }
      if (leader === null) problems.push('pgpool names no leader');
      const runs = this.cluster.ifCommandRuns();
      const running = runs.filter((run) => run.endedAt === null);
      if (running.length > 0) problems.push(`if commands running on ${running.map((run) => run.node).join(', ')}`);
      if (leader !== null) {
        const up = runs.filter((run) => run.node === leader && run.action === 'up').pop();
        if (up?.code !== 0) problems.push(`${leader}'s last if_up_cmd ${up === undefined ? 'never ran' : `exited ${up.code ?? '(running)'}`}`);
        if (problems.length === 0) {
          const routes = await this.options.drill.routeNodes();
          const holders = this.options.drill.vipHolders();
          if (!routes.every((node) => node === leader)) problems.push(`routes -> ${routes.map((node) => node ?? 'none').join(', ')}, leader ${leader}`);
          if (holders.length !== 1 || holders[0] !== leader) problems.push(`${VIP} on ${holders.join(', ') || 'no interface'}, leader ${leader}`);
          if (!this.options.drill.appReachesVip()) problems.push('the app host cannot connect');
        }
      }
      if (problems.length === 0) {
        goodSince ??= Date.now();
        if (Date.now() - goodSince >= QUIET_STABLE_MS) return [];
      } else {
        goodSince = null;
      }
      if (Date.now() >= deadline) return problems;
      await sleep(300);
    }
    return problems;
  }

  /** Runs one step; every wait inside is bounded. */
  public async run(step: Step): Promise<StepRecord> {
    this.actions = [];
    const startedAt = Date.now();
    switch (step.kind) {
      case 'fail-restart':
        await this.failRestart(step);
        break;
      case 'isolate-heal':
        await this.isolateHeal(step);
        break;
      case 'isolate-during-switchover':
        await this.isolateDuringSwitchover(step);
        break;
      case 'two-failures':
        await this.twoFailures(step);
        break;
      case 'overlapping':
        await this.overlapping(step);
        break;
    }
    return { step, description: describeStep(step), startedAt, endedAt: Date.now(), actions: this.actions };
  }

  private resolve(target: Target, exclude: readonly string[] = []): string {
    const leader = this.cluster.namedLeader();
    const available = NODES.map((node) => node.name).filter((name) => this.cluster.isRunning(name) && !exclude.includes(name) && !this.isolated.has(name));
    if (target.role === 'leader' && leader !== null && available.includes(leader)) return leader;
    const standbys = available.filter((name) => name !== leader);
    const pool = standbys.length > 0 ? standbys : available;
    const pick = target.role === 'standby' ? target.pick : 0;
    const chosen = pool[pick % Math.max(1, pool.length)];
    if (chosen !== undefined) return chosen;
    return NODES.map((node) => node.name).find((name) => !exclude.includes(name)) ?? 'pgpool-1';
  }

  private role(node: string): string {
    return this.cluster.namedLeader() === node ? 'leader' : 'standby';
  }

  private async fail(node: string, fault: Fault): Promise<void> {
    this.act(`${fault === 'kill' ? 'kill -9' : 'pgpool -m fast stop'} ${node} (${this.role(node)})`);
    if (fault === 'kill') await this.cluster.crash(node);
    else await this.cluster.stopFast(node);
  }

  private async restart(node: string): Promise<void> {
    if (this.cluster.isRunning(node)) return;
    this.act(`restart ${node}`);
    this.cluster.start(node);
    const deadline = Date.now() + REJOIN_MS;
    while (Date.now() < deadline && !this.options.shouldStop()) {
      this.cluster.poll();
      const state = this.cluster.watchdogState(node);
      if (state === 'STANDBY' || state === 'LEADER') {
        await sleep(HEARD_HEARTBEATS_MS);
        return;
      }
      await sleep(300);
    }
  }

  private isolate(node: string): void {
    this.act(`isolate ${node} (${this.role(node)})`);
    this.options.drill.isolate(node);
    this.isolated.add(node);
  }

  private heal(node: string): void {
    if (!this.isolated.has(node)) return;
    this.act(`heal ${node}`);
    this.options.drill.heal(node);
    this.isolated.delete(node);
  }

  /** At least two nodes run and can reach each other: a leader with quorum is possible. */
  private quorumPossible(): boolean {
    return NODES.filter((node) => this.cluster.isRunning(node.name) && !this.isolated.has(node.name)).length >= 2;
  }

  /**
   * Waits until pgpool has reacted to losing `node`: another node leads (it was the leader and a
   * quorum is still possible), or another node logged the loss. Bounded; says when pgpool did not react.
   */
  private async reaction(node: string, wasLeader: boolean): Promise<void> {
    const since = Date.now();
    const deadline = since + (wasLeader ? LEADER_REACTION_MS : STANDBY_REACTION_MS);
    while (Date.now() < deadline && !this.options.shouldStop()) {
      this.cluster.poll();
      if (wasLeader && this.quorumPossible()) {
        const leader = this.cluster.namedLeader();
        if (leader !== null && leader !== node) {
          const up = this.cluster.ifCommandRuns().find((run) => run.node === leader && run.action === 'up' && run.startedAt >= since - 1000);
          if (up?.endedAt != null) return;
        }
      } else {
        const noticed = this.options.timeline
          .between(since)
          .some((event) => event.source !== node && NODES.some((host) => host.name === event.source) && /^(remote node .* (lost|shutting down)|lost the cluster leader|lost the quorum)$/.test(event.text));
        if (noticed) return;
      }
      await sleep(300);
    }
    this.options.timeline.add('soak', `pgpool had not reacted to losing ${node} after ${((Date.now() - since) / 1000).toFixed(0)}s`);
  }

  private async failRestart(step: Extract<Step, { kind: 'fail-restart' }>): Promise<void> {
    const node = this.resolve(step.target);
    const wasLeader = this.cluster.namedLeader() === node;
    await this.fail(node, step.fault);
    await this.reaction(node, wasLeader);
    await sleep(step.restartAfterSeconds * 1000);
    await this.restart(node);
  }

  private async isolateHeal(step: Extract<Step, { kind: 'isolate-heal' }>): Promise<void> {
    const node = this.resolve(step.target);
    const wasLeader = this.cluster.namedLeader() === node;
    this.isolate(node);
    await this.reaction(node, wasLeader);
    await sleep(step.holdSeconds * 1000);
    this.heal(node);
  }

  private async isolateDuringSwitchover(step: Extract<Step, { kind: 'isolate-during-switchover' }>): Promise<void> {
    const leader = this.resolve({ role: 'leader' });
    const since = Date.now();
    const failing = this.fail(leader, step.fault);
    let successor: string | null = null;
    const deadline = since + LEADER_REACTION_MS;
    while (successor === null && Date.now() < deadline && !this.options.shouldStop()) {
      this.cluster.poll();
      const up = this.cluster.ifCommandRuns().find((run) => run.action === 'up' && run.node !== leader && run.startedAt >= since && run.endedAt === null);
      if (up !== undefined) successor = up.node;
      else await sleep(100);
    }
    let isolatedAt = Date.now();
    if (successor === null) this.act(`no successor ran if_up_cmd within ${LEADER_REACTION_MS / 1000}s: nothing isolated`);
    else {
      this.isolate(successor);
      isolatedAt = Date.now();
    }
    await failing;
    await sleep(step.restartAfterSeconds * 1000);
    await this.restart(leader);
    const healAt = isolatedAt + step.healAfterSeconds * 1000;
    if (Date.now() < healAt) await sleep(healAt - Date.now());
    if (successor !== null) this.heal(successor);
  }

  private async twoFailures(step: Extract<Step, { kind: 'two-failures' }>): Promise<void> {
    const first = this.resolve(step.first.target);
    const failingFirst = this.fail(first, step.first.fault);
    await sleep(step.gapSeconds * 1000);
    const second = this.resolve(step.second.target, [first]);
    const wasLeader = this.cluster.namedLeader() === second;
    await Promise.all([failingFirst, this.fail(second, step.second.fault)]);
    // One of three is left: no quorum. Give pgpool its lifecheck time to notice, then restart both.
    await this.reaction(second, wasLeader);
    await sleep(step.restartAfterSeconds * 1000);
    await this.restart(first);
    await this.restart(second);
  }

  private async overlapping(step: Extract<Step, { kind: 'overlapping' }>): Promise<void> {
    const isolated = this.resolve(step.isolate);
    this.isolate(isolated);
    await sleep(step.afterSeconds * 1000);
    const failed = this.resolve(step.target, [isolated]);
    const wasLeader = this.cluster.namedLeader() === failed;
    await this.fail(failed, step.fault);
    await this.reaction(failed, wasLeader);
    await sleep(step.holdSeconds * 1000);
    if (step.restartFirst) {
      await this.restart(failed);
      this.heal(isolated);
    } else {
      this.heal(isolated);
      await sleep(5000);
      await this.restart(failed);
    }
  }
}
