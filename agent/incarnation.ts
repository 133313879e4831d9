import { readFileSync } from 'node:fs';
import { IncarnationSchema, type Incarnation } from '../lib/contract.ts';

/** pgpool's processes all carry the executable's name; the ps titles it sets do not change it. */
const PGPOOL_COMM = 'pgpool';
/** More pgpool ancestors than any real process tree has: stop climbing there. */
const MAX_ANCESTORS = 8;
/**
 * Processes between pgpool and the agent that are looked through: a wrapper script that times
 * or logs the command, sudo (which runs the command as its child), env, nice, timeout.
 */
const MAX_WRAPPERS = 3;

interface ProcessStat {
  comm: string;
  ppid: number;
  /** Clock ticks after boot at which the process started: with the pid, unique within one boot. */
  startTicks: string;
}

/**
 * Which pgpool runs this command, from the process tree. pgpool's watchdog runs if_up_cmd and
 * if_down_cmd with fork + execv, so the agent's ancestors are pgpool processes:
 * - main -> watchdog -> escalation (or de-escalation) -> agent, when the node has just been
 *   elected or found quorum again (or resigns);
 * - main -> watchdog -> agent, when the watchdog itself re-runs if_up_cmd because the VIP
 *   vanished from its interface while it believes it leads (a re-acquire).
 * Up to three processes between pgpool and the agent (a wrapper script, sudo) are looked through.
 * Returns undefined when the agent does not run under pgpool's watchdog (a manual run) or /proc
 * cannot be read: the controller then treats the request as one it cannot place.
 */
export function readIncarnation(options: { procRoot?: string; parentPid?: number } = {}): Incarnation | undefined {
  const procRoot = options.procRoot ?? '/proc';
  const chain: Array<{ pid: number; stat: ProcessStat }> = [];
  let wrappers = 0;
  for (let pid = options.parentPid ?? process.ppid; pid > 0 && chain.length < MAX_ANCESTORS; ) {
    const stat = readStat(procRoot, pid);
    if (stat === null) break;
    if (stat.comm !== PGPOOL_COMM) {
      // Only wrappers right below pgpool; past the pgpool chain, its own parent (init) ends it.
      if (chain.length > 0 || wrappers >= MAX_WRAPPERS) break;
      wrappers += 1;
    } else {
      chain.push({ pid, stat });
    }
    pid = stat.ppid;
  }
  // Counted from the agent up, so a wrapper named pgpool above pgpool's main changes nothing.
  const [parent, grandparent, greatGrandparent] = chain;
  if (parent === undefined || grandparent === undefined) return undefined;
  const escalated = greatGrandparent !== undefined;
  const watchdog = escalated ? grandparent : parent;
  const parsed = IncarnationSchema.safeParse({
    bootId: readText(`${procRoot}/sys/kernel/random/boot_id`)?.trim(),
    watchdog: `${watchdog.pid}@${watchdog.stat.startTicks}`,
    escalation: escalated ? `${parent.pid}@${parent.stat.startTicks}` : null,
  });
  return parsed.success ? parsed.data : undefined;
}

/** Fields of /proc/<pid>/stat; the name is in parentheses and may itself hold spaces and parentheses. */
export function parseStat(text: string): ProcessStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // After the name: state (field 3), ppid (4), ... starttime (22).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(rest[1]);
  const startTicks = rest[19];
  if (!Number.isSafeInteger(ppid) || startTicks === undefined || !/^\d{1,20}$/.test(startTicks)) return null;
  return { comm: text.slice(open + 1, close), ppid, startTicks };
}

function readStat(procRoot: string, pid: number): ProcessStat | null {
  const text = readText(`${procRoot}/${pid}/stat`);
  return text === null ? null : parseStat(text);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
