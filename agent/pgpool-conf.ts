import { constants } from 'node:fs';
import { access, readFile, realpath } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { UsageError } from './errors.ts';

/** One doctor line: OK with what was found, or FIX with what to do. */
export interface CheckResult {
  check: string;
  ok: boolean;
  text: string;
}

/** Pgpool-II versions whose watchdog runs if_up_cmd/if_down_cmd/arping_cmd the way the agent expects. */
export const SUPPORTED_PGPOOL = { min: [4, 3], max: [4, 7] } as const;

export interface PgpoolVersion {
  major: number;
  minor: number;
  text: string;
}

/** `pgpool-II version 4.3.5 (tamahomeboshi)` or `4.7` -> {4, 3}. */
export function parsePgpoolVersion(text: string): PgpoolVersion | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), text: match[0] };
}

/**
 * The settings of a pgpool.conf: `name = value` lines, values optionally in single quotes,
 * `#` comments. Later lines win, as in pgpool. Names keep their case: pgpool's are case-sensitive.
 */
export function parsePgpoolConf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=?\s*(?:'((?:[^'\\]|\\.|'')*)'|([^\s#]*))/.exec(line);
    if (match === null) continue;
    const [, name, quoted, bare] = match;
    if (name === undefined) continue;
    settings.set(name, quoted !== undefined ? quoted.replace(/''/g, "'").replace(/\\(.)/g, '$1') : (bare ?? ''));
  }
  return settings;
}

export async function readPgpoolConf(path: string): Promise<Map<string, string>> {
  try {
    return parsePgpoolConf(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--pgpool-conf ${path} ${code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code ?? 'error'})`}`, { cause: error });
  }
}

/** What the checks need to know about this host's files; injected so the rules are testable. */
export interface FileProbe {
  /** Resolved real path when the file exists and is executable by this user, else undefined. */
  executable(path: string): Promise<string | undefined>;
  /** Resolved real path when the file exists, else undefined. */
  existing(path: string): Promise<string | undefined>;
}

async function probe(path: string, mode: number): Promise<string | undefined> {
  try {
    await access(path, mode);
    return await realpath(path);
  } catch {
    return undefined;
  }
}

export const hostFiles: FileProbe = {
  executable: (path) => probe(path, constants.X_OK),
  existing: (path) => probe(path, constants.R_OK),
};

export interface PgpoolConfExpectations {
  path: string;
  version: PgpoolVersion;
  vip: string;
  iface: string;
  /** Real path of the agent that runs this doctor. */
  agentPath: string;
}

/** The VIP line for this version, the two commands, arping_cmd and the escalation commands. */
export async function checkPgpoolConf(settings: Map<string, string>, expect: PgpoolConfExpectations, files: FileProbe = hostFiles): Promise<CheckResult[]> {
  const results: CheckResult[] = [versionResult(expect.version), vipResult(settings, expect)];
  for (const action of ['up', 'down'] as const) results.push(await commandResult(settings, action, expect, files));
  results.push(await arpingResult(settings, files));
  results.push(escalationResult(settings));
  return results;
}

function versionResult(version: PgpoolVersion): CheckResult {
  const at = (v: readonly [number, number]): number => v[0] * 100 + v[1];
  const mine = version.major * 100 + version.minor;
  const ok = mine >= at(SUPPORTED_PGPOOL.min) && mine <= at(SUPPORTED_PGPOOL.max);
  return ok
    ? { check: 'pgpool version', ok, text: `Pgpool-II ${version.text} (supported: 4.3 to 4.7)` }
    : { check: 'pgpool version', ok, text: `Pgpool-II ${version.text} is not a supported version (4.3 to 4.7): its watchdog may run the commands differently` };
}

function vipResult(settings: Map<string, string>, expect: PgpoolConfExpectations): CheckResult {
  const check = 'pgpool.conf VIP';
  const lower = settings.get('delegate_ip');
  const upper = settings.get('delegate_IP');
  const modern = expect.version.major > 4 || (expect.version.major === 4 && expect.version.minor >= 4);
  if (modern) {
    if (lower === undefined && upper !== undefined) {
      return { check, ok: false, text: `delegate_IP is the name before 4.4; Pgpool-II ${expect.version.text} reads it with a warning: write delegate_ip = '${expect.vip}'` };
    }
    if (lower !== expect.vip) return { check, ok: false, text: `delegate_ip is ${lower === undefined ? 'not set' : `'${lower}'`}: write delegate_ip = '${expect.vip}' (the cluster's VIP in the agent config)` };
    return { check, ok: true, text: `delegate_ip = '${lower}' (Pgpool-II 4.4 and later)` };
  }
  if (upper === undefined && lower !== undefined) {
    return { check, ok: false, text: `Pgpool-II ${expect.version.text} does not know delegate_ip (an unrecognized parameter: no VIP is ever brought up): write delegate_IP = '${expect.vip}'` };
  }
  if (upper !== expect.vip) return { check, ok: false, text: `delegate_IP is ${upper === undefined ? 'not set' : `'${upper}'`}: write delegate_IP = '${expect.vip}'` };
  return { check, ok: true, text: `delegate_IP = '${upper}' (Pgpool-II 4.3)` };
}

async function commandResult(settings: Map<string, string>, action: 'up' | 'down', expect: PgpoolConfExpectations, files: FileProbe): Promise<CheckResult> {
  const name = action === 'up' ? 'if_up_cmd' : 'if_down_cmd';
  const check = `pgpool.conf ${name}`;
  const wanted = `'${expect.agentPath} ${action} $_IP_$ ${expect.iface}'`;
  const value = settings.get(name);
  if (value === undefined || value.trim() === '') return { check, ok: false, text: `not set: write ${name} = ${wanted}` };
  // pgpool splits on spaces and execv()s the first word; no shell, no PATH.
  const words = value.trim().split(/ +/);
  const [program = ''] = words;
  if (!isAbsolute(program)) {
    return { check, ok: false, text: `'${program}' is not an absolute path: pgpool joins it to if_cmd_path (/sbin by default); write ${name} = ${wanted}` };
  }
  const programPath = await files.executable(program);
  if (programPath === undefined) {
    // execv fails in pgpool's child, which then exits 0: pgpool logs success and nothing happened.
    return { check, ok: false, text: `${program} does not exist or is not executable: pgpool would count the failed execv as success (its child exits 0); write ${name} = ${wanted}` };
  }
  // `/usr/bin/node /usr/local/bin/pgpool-vip up ...` runs the agent with an explicit interpreter.
  const viaNode = /(^|\/)node(\d+)?$/.test(program);
  const agentWord = viaNode ? words[1] : program;
  const agent = !viaNode ? programPath : agentWord !== undefined && isAbsolute(agentWord) ? await files.existing(agentWord) : undefined;
  if (agent !== expect.agentPath) {
    return { check, ok: false, text: `runs ${agentWord ?? '(nothing)'}, not this agent (${expect.agentPath}): write ${name} = ${wanted}` };
  }
  const rest = words.slice(viaNode ? 2 : 1);
  const [givenAction, ip, iface, ...extra] = rest;
  if (givenAction !== action || ip !== '$_IP_$' || iface === undefined || extra.length > 0) {
    return { check, ok: false, text: `arguments '${rest.join(' ')}' are not '${action} $_IP_$ IFACE': write ${name} = ${wanted}` };
  }
  if (iface !== expect.iface) return { check, ok: true, text: `${value} (interface ${iface}; doctor checked ${expect.iface})` };
  return { check, ok: true, text: value };
}

async function arpingResult(settings: Map<string, string>, files: FileProbe): Promise<CheckResult> {
  const check = 'pgpool.conf arping_cmd';
  const value = settings.get('arping_cmd');
  const [program = ''] = (value ?? '').trim().split(/ +/);
  const fix = "write arping_cmd = '/usr/bin/true' (no ARP takeover on AWS: the route moves instead)";
  if (value === undefined || program === '') return { check, ok: false, text: `not set: pgpool's default arping runs after if_up_cmd; ${fix}` };
  if (!isAbsolute(program)) return { check, ok: false, text: `'${program}' is relative: pgpool joins it to arping_path (/usr/sbin by default); ${fix}` };
  if ((await files.executable(program)) === undefined) return { check, ok: false, text: `${program} does not exist or is not executable; ${fix}` };
  return { check, ok: true, text: value };
}

function escalationResult(settings: Map<string, string>): CheckResult {
  const check = 'pgpool.conf escalation';
  const set = ['wd_escalation_command', 'wd_de_escalation_command'].filter((name) => (settings.get(name) ?? '').trim() !== '');
  if (set.length > 0) {
    return { check, ok: false, text: `${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set: empty ${set.length > 1 ? 'them' : 'it'}; the agent is the only thing that may move the VIP` };
  }
  return { check, ok: true, text: 'wd_escalation_command and wd_de_escalation_command are empty' };
}
