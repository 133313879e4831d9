import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The unprivileged user pgpool and PostgreSQL run as (Debian's packages create it). */
export const SERVICE_USER = 'postgres';

export interface NamespaceCommand {
  ns: string;
  argv: string[];
  /** Run as SERVICE_USER instead of root. */
  asServiceUser?: boolean;
  /**
   * With asServiceUser: keep CAP_NET_ADMIN as an ambient capability, as systemd's
   * `AmbientCapabilities=CAP_NET_ADMIN` gives it to the pgpool service (the local fast path).
   */
  netAdmin?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** argv that runs a command inside a network namespace, optionally dropping root. */
export function namespaceArgv(command: NamespaceCommand): string[] {
  const ambient = command.netAdmin === true ? ['--inh-caps=+net_admin', '--ambient-caps=+net_admin'] : [];
  const drop = command.asServiceUser
    ? ['setpriv', `--reuid=${SERVICE_USER}`, `--regid=${SERVICE_USER}`, '--init-groups', ...ambient, '--']
    : [];
  return ['ip', 'netns', 'exec', command.ns, ...drop, ...command.argv];
}

/** Runs a short command in a namespace and returns its exit code and output; never throws on exit code. */
export async function runInNamespace(
  command: NamespaceCommand & { timeoutMs?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, ...args] = namespaceArgv(command);
  if (file === undefined) throw new Error('empty argv');
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      env: command.env ?? process.env,
      cwd: command.cwd,
      timeout: command.timeoutMs ?? 20_000,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    };
  }
}

/** A long-running process in a namespace, its output appended to a log file. */
export interface ServiceProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export function startInNamespace(name: string, command: NamespaceCommand, logPath: string): ServiceProcess {
  const [file, ...args] = namespaceArgv(command);
  if (file === undefined) throw new Error('empty argv');
  const log = openSync(logPath, 'a');
  const child = spawn(file, args, {
    env: command.env ?? process.env,
    cwd: command.cwd,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1)));
    child.once('error', () => resolve(-1));
  });
  return {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every intervalMs until it returns a value other than undefined, or the time is up. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}
