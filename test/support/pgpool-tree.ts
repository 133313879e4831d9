import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutProgress } from '../../local/agent-node.ts';

const FIXTURE = fileURLToPath(new URL('./pgpool-tree.mjs', import.meta.url));

export interface TreeRun {
  code: number | null;
  stdout: string;
  /** Without the agent's progress lines, as runAgent gives it (local/agent-node.ts). */
  stderr: string;
}

/** One node's pgpool as a process tree (main -> watchdog [-> escalation] -> command), all named pgpool. */
export interface PgpoolTree {
  mainPid: number;
  watchdogPid: number;
  /** Runs a command the way pgpool's watchdog does: from a new escalation process, or itself (a re-acquire). */
  run(kind: 'escalation' | 'reacquire', command: string, args: readonly string[], env: Record<string, string>): Promise<TreeRun>;
  /** kill -9 of pgpool: main and watchdog die, no if_down_cmd runs. */
  kill(): Promise<void>;
}

/** Starts a pgpool stand-in; `dir` receives the `pgpool` link to node (its processes' name). */
export async function startPgpoolTree(dir: string): Promise<PgpoolTree> {
  const link = join(dir, 'pgpool');
  if (!existsSync(link)) symlinkSync(process.execPath, link);
  const main: ChildProcess = spawn(link, [FIXTURE, 'main'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const watchdogPid = await new Promise<number>((resolve, reject) => {
    main.once('error', reject);
    main.once('message', (message) => resolve((message as { watchdogPid: number }).watchdogPid));
  });
  let exited = false;
  main.once('exit', () => (exited = true));
  return {
    mainPid: main.pid ?? 0,
    watchdogPid,
    run: async (kind, command, args, env) =>
      await new Promise<TreeRun>((resolve) => {
        main.once('message', (message) => {
          const run = message as TreeRun;
          resolve({ ...run, stderr: withoutProgress(run.stderr) });
        });
        main.send({ kind, command, args, env });
      }),
    kill: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => main.once('exit', () => resolve()));
      process.kill(watchdogPid, 'SIGKILL');
      main.kill('SIGKILL');
      await gone;
    },
  };
}
