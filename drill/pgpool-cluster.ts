import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { renderPgpoolConf, type WatchdogTimings } from './pgpool-config.ts';
import type { PgpoolInstall } from './pgpool-install.ts';
import { namespacePids } from './netns.ts';
import { runInNamespace, startInNamespace, SERVICE_USER, type ServiceProcess } from './processes.ts';
import type { Timeline } from './timeline.ts';
import { NODES, type NodeHost } from './topology.ts';
import { releaseOrphanedSharedMemory } from './shared-memory.ts';

/** One run of if_up_cmd or if_down_cmd, from the timing wrapper's log. */
export interface IfCommandRun {
  id: string;
  node: string;
  action: string;
  startedAt: number;
  endedAt: number | null;
  code: number | null;
  lastLine: string;
}

export interface PgpoolClusterOptions {
  /** 'pgpool-vip' or 'article': names the directory and the timeline source. */
  flavour: string;
  dir: string;
  /** The if_up_cmd/if_down_cmd pgpool runs, before the timing wrapper is put in front. */
  ifCommand: (action: 'up' | 'down') => string;
  /** A script put in front of the command that records its runs; null: the command records them itself. */
  timingWrapper: string | null;
  env: (node: NodeHost) => NodeJS.ProcessEnv;
  /** null: pgpool's default timings and priority. */
  timings: (node: NodeHost) => WatchdogTimings | null;
  priority: (node: NodeHost) => number | null;
  install: PgpoolInstall;
  /** false runs pgpool as root (the article's script needs root for `ip`; see docs/drill.md). */
  asServiceUser: boolean;
  /** pgpool keeps CAP_NET_ADMIN (ambient), as with the systemd drop-in of the local fast path. */
  netAdmin?: boolean;
  timeline: Timeline;
}

interface NodeState {
  host: NodeHost;
  dir: string;
  conf: string;
  log: string;
  process: ServiceProcess | null;
  logOffset: number;
  logRest: string;
  watchdogState: string;
  escalated: boolean;
  /** When pgpool logged its last escalation (its clock, epoch ms). */
  escalatedAt: number;
}

/** Lines of pgpool's log that tell the story of the VIP, and how the timeline shows them. */
const LOG_EVENTS: Array<[RegExp, (match: RegExpMatchArray) => string]> = [
  [/watchdog node state changed from \[[^\]]+\] to \[(LEADER|STANDBY|LOST|IN NETWORK TROUBLE|SHUTDOWN)\]/, (m) => `watchdog state ${m[1] ?? ''}`],
  [/escalation process started with PID/, () => 'escalation: runs if_up_cmd'],
  [/watchdog: de-escalation started/, () => 'de-escalation: runs if_down_cmd'],
  [/successfully acquired the delegate IP/, () => 'pgpool: acquired the delegate IP (ping check passed)'],
  [/failed to acquire the delegate IP/, () => 'pgpool: FAILED to acquire the delegate IP'],
  [/successfully released the delegate IP/, () => 'pgpool: released the delegate IP'],
  [/failed to release the delegate IP/, () => 'pgpool: FAILED to release the delegate IP'],
  [/We have lost the quorum/, () => 'lost the quorum'],
  [/quorum found/, () => 'quorum found'],
  [/remote node "([^"]+)" is lost/, (m) => `remote node ${m[1] ?? ''} lost`],
  [/remote node "([^"]+)" is shutting down/, (m) => `remote node ${m[1] ?? ''} shutting down`],
  [/We have lost the cluster leader node/, () => 'lost the cluster leader'],
  [/delegate IP.*(not|missing)/i, (m) => `pgpool: ${m[0]}`],
];

const LOG_LINE = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}): (.*)$/;

/** Three pgpool2 watchdog nodes, one per node namespace, and what their logs say. */
export class PgpoolCluster {
  public readonly ifCommandLog: string;
  private readonly nodes: NodeState[];
  private readonly options: PgpoolClusterOptions;
  private ifLogOffset = 0;
  private ifLogRest = '';
  private readonly runs = new Map<string, IfCommandRun>();

  public constructor(options: PgpoolClusterOptions) {
    this.options = options;
    mkdirSync(options.dir, { recursive: true, mode: 0o755 });
    this.ifCommandLog = join(options.dir, 'if-commands.log');
    writeFileSync(this.ifCommandLog, '');
    chmodSync(this.ifCommandLog, 0o666);
    // The wrapper writes each command's output next to the log: the directory must be writable.
    chmodSync(options.dir, 0o777);
    this.nodes = NODES.map((host) => {
      const dir = join(options.dir, host.name);
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, 'pgpool.conf');
      const command = (action: 'up' | 'down'): string =>
        options.timingWrapper === null ? options.ifCommand(action) : `${options.timingWrapper} ${options.ifCommand(action)}`;
      writeFileSync(
        conf,
        renderPgpoolConf({
          nodeIndex: host.index,
          runDir: dir,
          ifUpCmd: command('up'),
          ifDownCmd: command('down'),
          timings: options.timings(host),
          priority: options.priority(host),
          pgpoolVersion: options.install.version,
        }),
      );
      writeFileSync(join(dir, 'pgpool_node_id'), `${host.index}\n`);
      writeFileSync(join(dir, 'pcp.conf'), '');
      if (options.asServiceUser) execFileSync('chown', ['-R', `${SERVICE_USER}:${SERVICE_USER}`, dir]);
      const log = join(dir, 'pgpool.log');
      writeFileSync(log, '');
      return { host, dir, conf, log, process: null, logOffset: 0, logRest: '', watchdogState: 'DEAD', escalated: false, escalatedAt: 0 };
    });
  }

  public get hosts(): NodeHost[] {
    return this.nodes.map((node) => node.host);
  }

  /** Starts pgpool on one node (`pgpool -n -D`), as the service user unless configured otherwise. */
  public start(name: string): void {
    const node = this.node(name);
    if (node.process !== null && node.process.child.exitCode === null && node.process.child.signalCode === null) return;
    node.watchdogState = 'LOADING';
    node.escalated = false;
    node.process = startInNamespace(
      `pgpool ${name}`,
      {
        ns: node.host.ns,
        asServiceUser: this.options.asServiceUser,
        netAdmin: this.options.netAdmin === true,
        cwd: node.dir,
        env: this.options.env(node.host),
        argv: [this.options.install.bin, '-n', '-D', '-f', node.conf, '-F', join(node.dir, 'pcp.conf')],
      },
      node.log,
    );
    this.options.timeline.add(name, `drill: start pgpool (pid ${node.process.pid})`);
  }

  /** `pgpool -m fast stop`: the planned way, pgpool runs if_down_cmd on the leader. */
  public async stopFast(name: string): Promise<void> {
    const node = this.node(name);
    this.options.timeline.add(name, 'drill: pgpool -m fast stop');
    const stopped = await runInNamespace({
      ns: node.host.ns,
      asServiceUser: this.options.asServiceUser,
      cwd: node.dir,
      env: this.options.env(node.host),
      argv: [this.options.install.bin, '-f', node.conf, '-m', 'fast', 'stop'],
      timeoutMs: 30_000,
    });
    if (stopped.code !== 0) this.options.timeline.add(name, `drill: pgpool stop exited ${stopped.code}: ${stopped.stderr.trim()}`);
    await node.process?.exited;
    this.markDown(node);
  }

  /** kill -9 of every pgpool process of the node: a crash, no if_down_cmd runs. */
  public async crash(name: string): Promise<void> {
    const node = this.node(name);
    const pids = pgpoolPids(node.host.ns);
    this.options.timeline.add(name, `drill: kill -9 pgpool (${pids.length} processes)`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await node.process?.exited;
    await releaseOrphanedSharedMemory(pids);
    this.markDown(node);
  }

  /** Stops every node at once (`-m immediate`), then kills what is left. Used between runs. */
  public async stopAll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        if (node.process === null) return;
        await runInNamespace({
          ns: node.host.ns,
          asServiceUser: this.options.asServiceUser,
          cwd: node.dir,
          env: this.options.env(node.host),
          argv: [this.options.install.bin, '-f', node.conf, '-m', 'immediate', 'stop'],
          timeoutMs: 15_000,
        });
        const leftovers = pgpoolPids(node.host.ns);
        for (const pid of leftovers) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await node.process.exited;
        await releaseOrphanedSharedMemory(leftovers);
        this.markDown(node);
      }),
    );
  }

  public isRunning(name: string): boolean {
    const child = this.node(name).process?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  public watchdogState(name: string): string {
    return this.node(name).watchdogState;
  }

  /** Nodes whose pgpool is running and has escalated (holds the delegate IP in pgpool's view). */
  public escalatedNodes(): string[] {
    return this.nodes.filter((node) => this.isRunning(node.host.name) && node.escalated).map((node) => node.host.name);
  }

  /**
   * The leader pgpool names: of the running nodes that escalated (pgpool escalates only with the
   * quorum), the one that escalated last. Two are escalated at once only while an isolated old
   * leader has not yet noticed that the majority elected another; the majority's choice is the
   * later one. null: no node holds the VIP in pgpool's view (no leader with quorum).
   */
  public namedLeader(): string | null {
    const escalated = this.nodes.filter((node) => this.isRunning(node.host.name) && node.escalated);
    escalated.sort((a, b) => b.escalatedAt - a.escalatedAt);
    return escalated[0]?.host.name ?? null;
  }

  /** When the node's last escalation started (pgpool's log), or null. */
  public escalatedAt(name: string): number | null {
    const node = this.node(name);
    return node.escalated ? node.escalatedAt : null;
  }

  /** Every if_up_cmd/if_down_cmd run seen so far, oldest first. */
  public ifCommandRuns(): IfCommandRun[] {
    return [...this.runs.values()].sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Reads what the logs gained since the last call; adds their events to the timeline. */
  public poll(): void {
    for (const node of this.nodes) {
      const read = readNew(node.log, node.logOffset, node.logRest);
      node.logOffset = read.offset;
      node.logRest = read.rest;
      for (const line of read.lines) this.onLogLine(node, line);
    }
    const read = readNew(this.ifCommandLog, this.ifLogOffset, this.ifLogRest);
    this.ifLogOffset = read.offset;
    this.ifLogRest = read.rest;
    for (const line of read.lines) this.onIfCommandLine(line);
  }

  /** Output of one if command run (the wrapper keeps it). */
  public ifCommandOutput(run: IfCommandRun): string {
    const path = `${this.ifCommandLog}.${run.id}.out`;
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  private onLogLine(node: NodeState, line: string): void {
    const parsed = LOG_LINE.exec(line);
    if (parsed === null) return;
    const at = new Date((parsed[1] ?? '').replace(' ', 'T')).getTime();
    const text = parsed[2] ?? '';
    const state = /watchdog node state changed from \[[^\]]+\] to \[([^\]]+)\]/.exec(text);
    if (state !== null) node.watchdogState = state[1] ?? node.watchdogState;
    if (/escalation process started with PID/.test(text)) {
      node.escalated = true;
      node.escalatedAt = at;
    }
    if (/watchdog: de-escalation started/.test(text)) node.escalated = false;
    for (const [pattern, describe] of LOG_EVENTS) {
      const match = text.match(pattern);
      if (match !== null) {
        this.options.timeline.add(node.host.name, describe(match), at);
        break;
      }
    }
  }

  private onIfCommandLine(line: string): void {
    const start = /^start (\d+) (\S+) (\S+) (\d+)$/.exec(line);
    if (start !== null) {
      const [, id = '', node = '', action = '', at = '0'] = start;
      this.runs.set(id, { id, node, action, startedAt: Number(at), endedAt: null, code: null, lastLine: '' });
      this.options.timeline.add(node, `if_${action}_cmd started`, Number(at));
      return;
    }
    const end = /^end (\d+) (\S+) (\S+) (\d+) (\d+) ?(.*)$/.exec(line);
    if (end === null) return;
    const [, id = '', node = '', action = '', at = '0', code = '0', last = ''] = end;
    const run = this.runs.get(id);
    if (run === undefined) return;
    run.endedAt = Number(at);
    run.code = Number(code);
    run.lastLine = last;
    const took = ((run.endedAt - run.startedAt) / 1000).toFixed(2);
    this.options.timeline.add(node, `if_${action}_cmd exited ${code} after ${took}s: ${last}`, run.endedAt);
  }

  private markDown(node: NodeState): void {
    node.escalated = false;
    node.watchdogState = 'DEAD';
  }

  private node(name: string): NodeState {
    const found = this.nodes.find((node) => node.host.name === name);
    if (found === undefined) throw new Error(`no pgpool node ${name}`);
    return found;
  }
}

/** Pids of pgpool processes in a node's namespace (the IMDS process there is left alone). */
function pgpoolPids(ns: string): number[] {
  return namespacePids(ns).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'pgpool';
    } catch {
      return false;
    }
  });
}

function readNew(path: string, offset: number, rest: string): { lines: string[]; offset: number; rest: string } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { lines: [], offset, rest };
  }
  if (size <= offset) return { lines: [], offset, rest };
  const fd = openSync(path, 'r');
  try {
    const length = Math.min(fstatSync(fd).size - offset, 4 * 1024 * 1024);
    const buffer = Buffer.alloc(length);
    const got = readSync(fd, buffer, 0, length, offset);
    const text = rest + buffer.subarray(0, got).toString('utf8');
    const parts = text.split('\n');
    const tail = parts.pop() ?? '';
    return { lines: parts, offset: offset + got, rest: tail };
  } finally {
    closeSync(fd);
  }
}
