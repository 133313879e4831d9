// The bundled agent, built once per set of inputs and cached, so the tests and `npm start` run the
// real single-file command without paying seconds of esbuild and brotli on every run.
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgent } from '../scripts/build-agent.ts';
import { folderBeside, inputsDigest } from './build-cache.ts';
import { REPO_ROOT } from './packaged-service.ts';

/**
 * Everything whose change changes the bundle: the agent and what it imports from lib/, the
 * build script, the exact dependency versions (esbuild and the bundled SDK) and the TypeScript
 * settings esbuild reads.
 */
const AGENT_INPUTS = ['agent', 'lib', 'scripts/build-agent.ts', 'package.json', 'package-lock.json', 'tsconfig.json'];

export const AGENT_CACHE = join(REPO_ROOT, 'node_modules/.cache/pgpool-vip-agent');
const BUNDLE_FILE = 'pgpool-vip.mjs';
/** Entries kept besides the current one: a run that started before an edit may still be using one. */
const KEPT_ENTRIES = 3;

export interface CachedAgentBundle {
  /** The bundled agent: shared by everyone who asks, so run it, never write to it. */
  bundle: string;
  bytes: number;
  /** false when this call built it. */
  cached: boolean;
  /** Removes the bundle when it was built outside the cache (the cache was not writable); else nothing. */
  remove: () => void;
}

/**
 * The agent bundle for the current inputs, from the cache when they have not changed. A build
 * writes into a temp folder beside the entry and renames it into place, so processes building
 * at the same time never run a half-written file: the first rename wins, the others drop theirs.
 */
export async function cachedAgentBundle(): Promise<CachedAgentBundle> {
  const entry = join(AGENT_CACHE, inputsDigest(REPO_ROOT, AGENT_INPUTS, 'agent bundle'));
  const bundle = join(entry, BUNDLE_FILE);
  if (existsSync(bundle)) return { bundle, bytes: statSync(bundle).size, cached: true, remove: () => undefined };
  const partial = folderBeside(AGENT_CACHE, entry);
  if (partial === undefined) {
    // This user cannot write the cache (one `sudo npm run drill` made it): a bundle of its own.
    const dir = mkdtempSync(join(tmpdir(), 'pgpool-vip-agent-'));
    const { outfile, bytes } = await buildAgent(join(dir, BUNDLE_FILE));
    return { bundle: outfile, bytes, cached: false, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }
  try {
    await buildAgent(join(partial, BUNDLE_FILE));
    renameSync(partial, entry);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    // Another process renamed its build of the same inputs first: use that one.
    if (!existsSync(bundle)) throw error;
  }
  pruneOldEntries(entry);
  return { bundle, bytes: statSync(bundle).size, cached: false, remove: () => undefined };
}

/** Keeps the newest few entries: each change of the agent's inputs adds one. */
function pruneOldEntries(current: string): void {
  const entries = readdirSync(AGENT_CACHE)
    .map((name) => join(AGENT_CACHE, name))
    .filter((path) => path !== current && !path.includes('.partial-'))
    .map((path) => ({ path, built: statSync(path).mtimeMs }))
    .sort((a, b) => b.built - a.built);
  for (const { path } of entries.slice(KEPT_ENTRIES)) rmSync(path, { recursive: true, force: true });
}
