import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parsePgpoolVersion, type PgpoolVersion } from './pgpool-conf.ts';

/** The oldest Node.js the nodes may run: Node 20 reached end of life on 2026-04-30. */
export const MIN_NODE_MAJOR = 22;

/** The major version of a `process.versions.node` string. */
export function nodeMajor(version: string): number {
  return Number(version.split('.')[0]);
}

/** The host interface that carries an IPv4 address (the instance's primary private IP), if any. */
export function interfaceWithAddress(address: string): string | undefined {
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    if ((entries ?? []).some((entry) => entry.family === 'IPv4' && entry.address === address)) return name;
  }
  return undefined;
}

/** The kernel cuts process names to 15 characters: `amazon-ssm-agent` shows as `amazon-ssm-agen`. */
const SSM_AGENT_COMM = 'amazon-ssm-agen';

/** Pid of a running SSM agent in this pid namespace (any user may read /proc/<pid>/comm). */
export async function ssmAgentPid(procDir = '/proc'): Promise<number | undefined> {
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readFile(join(procDir, entry, 'comm'), 'utf8')).trim() === SSM_AGENT_COMM) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

const run = promisify(execFile);

/** `pgpool --version` from pgpool's usual places; the first that answers wins. */
export async function detectPgpoolVersion(env: NodeJS.ProcessEnv): Promise<PgpoolVersion | string> {
  const dirs = [...(env.PATH ?? '').split(':').filter((dir) => dir !== ''), '/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/pgpool-II/bin'];
  for (const dir of [...new Set(dirs)]) {
    try {
      const { stdout } = await run(join(dir, 'pgpool'), ['--version'], { timeout: 3000 });
      const version = parsePgpoolVersion(stdout);
      if (version !== undefined) return version;
    } catch {
      // Not there; try the next place.
    }
  }
  return 'no pgpool binary answered --version on PATH or in /usr/sbin, /usr/bin, /usr/local/bin, /usr/pgpool-II/bin: pass --pgpool-version 4.x';
}
