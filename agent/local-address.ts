import { constants } from 'node:fs';
import type { SwitchoverAction } from '../lib/contract.ts';
import { oneLine } from './errors.ts';
import { fsCalls } from './fs-calls.ts';
import { interfaceHasAddress } from './host-interface.ts';

/**
 * The opt-in local fast path: an agent that holds CAP_NET_ADMIN (pgpool started with
 * `AmbientCapabilities=CAP_NET_ADMIN`, docs/deploy.md) puts the VIP on its interface itself
 * while the controller moves the route, instead of waiting for SSM Run Command to do it.
 */

/** CAP_NET_ADMIN's bit in the kernel's capability sets (linux/capability.h). */
const CAP_NET_ADMIN_BIT = 12n;
/** Where `ip` lives on current distributions; pgpool's PATH is not trusted to find it. */
export const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'] as const;
/** An `ip addr` that takes longer than this is stuck; the SSM path is taken instead. */
const IP_TIMEOUT_MS = 3000;

/**
 * True when the `CapEff:` line of a /proc/<pid>/status text includes CAP_NET_ADMIN: the
 * capabilities this process may use now (root has it unless a bounding set took it away).
 */
export function hasNetAdmin(procStatus: string): boolean {
  const match = /^CapEff:\s*([0-9a-fA-F]{1,16})\s*$/m.exec(procStatus);
  if (match?.[1] === undefined) return false;
  return ((BigInt(`0x${match[1]}`) >> CAP_NET_ADMIN_BIT) & 1n) === 1n;
}

/** What the host offers the fast path, read once before deciding. */
export interface LocalHost {
  /** The agent's effective capabilities include CAP_NET_ADMIN. */
  netAdmin: boolean;
  /** The absolute path of an executable `ip`, or null. */
  ipPath: string | null;
  /** The VIP is on the interface already. */
  present: boolean;
}

/** What the agent does about the VIP on its own interface before it sends the request. */
export type LocalAddressPlan =
  /** SSM adds the VIP, as by default; `why` is null when the fast path is simply not asked for. */
  | { kind: 'ssm'; why: string | null }
  /** The VIP is on the interface already: nothing to add, and nothing to take back on refusal. */
  | { kind: 'present' }
  | { kind: 'add'; ipPath: string };

/**
 * Pure: the fast path only when configured, for an `up` from an escalation (an election won),
 * with the capability and an `ip`. A re-acquire (pgpool's watchdog re-running if_up_cmd because
 * the VIP vanished from its interface) goes through SSM: it is the request the controller holds
 * during a partition, and an address added and then taken back on that refusal would vanish
 * again, so the watchdog would re-run the command, and so on.
 */
export function planLocalAddress(input: { enabled: boolean; action: SwitchoverAction; reacquire: boolean; host: LocalHost }): LocalAddressPlan {
  const { enabled, action, host } = input;
  if (!enabled || action !== 'up') return { kind: 'ssm', why: null };
  if (input.reacquire) return { kind: 'ssm', why: null };
  if (!host.netAdmin) return { kind: 'ssm', why: 'this process lacks CAP_NET_ADMIN (CapEff in /proc/self/status)' };
  if (host.present) return { kind: 'present' };
  if (host.ipPath === null) return { kind: 'ssm', why: `no ip command at ${IP_CANDIDATES.join(', ')}` };
  return { kind: 'add', ipPath: host.ipPath };
}

/** Reads what the plan needs: the capability, `ip`, and whether the VIP is already there. */
export async function readLocalHost(vip: string, iface: string, procStatusPath = '/proc/self/status'): Promise<LocalHost> {
  const [status, ipPath] = await Promise.all([fsCalls.readFile(procStatusPath, 'utf8').catch(() => ''), findIp()]);
  return { netAdmin: hasNetAdmin(status), ipPath, present: interfaceHasAddress(iface, vip) };
}

async function findIp(): Promise<string | null> {
  for (const candidate of IP_CANDIDATES) {
    try {
      await fsCalls.access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  return null;
}

/** Where the fast path left the interface, and what to say and undo. */
export interface LocalAddress {
  /** The request may say `localAddress: true`: the VIP is on the interface now. */
  onInterface: boolean;
  /** The agent added it, so a refused request takes it off again (only then). */
  added: boolean;
  /** A line for stderr when the fast path was asked for and not taken, or null. */
  note: string | null;
  /** `ip` used to add it (and to remove it on refusal). */
  ipPath: string | null;
}

/** Carries out the plan. A failed add is no error: SSM adds the VIP then, as by default. */
export async function applyLocalAddress(plan: LocalAddressPlan, vip: string, iface: string): Promise<LocalAddress> {
  if (plan.kind === 'ssm') {
    return { onInterface: false, added: false, ipPath: null, note: plan.why === null ? null : `localAddress is on but ${plan.why}: SSM adds ${vip} instead` };
  }
  if (plan.kind === 'present') return { onInterface: true, added: false, ipPath: null, note: null };
  const result = await runIp(plan.ipPath, ['-4', 'addr', 'add', `${vip}/32`, 'dev', iface]);
  if (result.ok) return { onInterface: true, added: true, ipPath: plan.ipPath, note: null };
  // Someone (SSM, an earlier run) put it there between the look and the add: not ours to remove.
  if (interfaceHasAddress(iface, vip)) return { onInterface: true, added: false, ipPath: null, note: null };
  return { onInterface: false, added: false, ipPath: null, note: `localAddress is on but ${plan.ipPath} addr add ${vip}/32 dev ${iface} failed (${result.error}): SSM adds ${vip} instead` };
}

/**
 * Takes back what this agent added, after the controller refused the request: the VIP must not
 * stay on a node the route does not point at. Returns a line for stderr.
 */
export async function removeLocalAddress(local: LocalAddress, vip: string, iface: string): Promise<string | null> {
  if (!local.added || local.ipPath === null) return null;
  const result = await runIp(local.ipPath, ['-4', 'addr', 'del', `${vip}/32`, 'dev', iface]);
  if (result.ok || !interfaceHasAddress(iface, vip)) return `removed ${vip} from ${iface}, which this agent had added`;
  return `could not remove ${vip} from ${iface}, which this agent had added (${result.error}); the next holder's controller fences it through SSM`;
}

async function runIp(ipPath: string, args: string[]): Promise<{ ok: true } | { ok: false; error: string }> {
  // Loaded here, not with the module: an `up` without the fast path never starts a child process.
  const { execFile } = await import('node:child_process');
  return await new Promise((resolve) => {
    execFile(ipPath, args, { timeout: IP_TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (error === null) resolve({ ok: true });
      else resolve({ ok: false, error: oneLine(stderr.trim() === '' ? error.message : stderr) });
    });
  });
}

/**
 * The controller steps after which a refusal leaves no route pointing at this node. A failure
 * at `route` or later (or an unplaceable one) may have moved some tables here: the VIP stays,
 * and the next holder's request fences it through SSM.
 */
const BEFORE_THE_ROUTE = new Set(['parse', 'configuration', 'verify', 'read', 'claim', 'validate', 'decide', 'source-dest-check']);

/** Pure: whether a final answer means the VIP this agent added must come off again. */
export function refusedBeforeRoute(outcome: { status: string; failedStep?: string | null | undefined }): boolean {
  if (outcome.status === 'rejected' || outcome.status === 'stale') return true;
  return outcome.status === 'failed' && outcome.failedStep != null && BEFORE_THE_ROUTE.has(outcome.failedStep);
}
