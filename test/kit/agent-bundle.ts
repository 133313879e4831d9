import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import './moto-global.ts';

/** The run's agent bundle (built once, test/kit/moto-global.ts) and a folder of the file's own. */
export interface AgentBundle {
  /** The bundled agent: shared by every file of the run, so never written to. */
  readonly bundle: string;
  readonly bytes: number;
  /** The calling file's folder for config files, links and scripts beside the agent. */
  readonly dir: string;
  /** Removes the file's folder; the bundle stays for the other files. */
  remove(): Promise<void>;
}

/**
 * The bundled agent every file runs: esbuild and brotli cost seconds of CPU per build, so the
 * run builds it once and each file gets only a folder of its own next to it.
 */
export async function agentBundle(): Promise<AgentBundle> {
  const { bundle, bytes } = inject('agentBundle');
  const dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-agent-'));
  return { bundle, bytes, dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
