import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { buildAgent } from './build-agent.ts';

/** Where `npm run release` writes (not committed: .gitignore). */
export const RELEASE_DIR = fileURLToPath(new URL('../release/', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../package.json', import.meta.url));

const PackageSchema = z.object({
  name: z.string().min(1),
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version like 1.2.3'),
});

export interface Release {
  version: string;
  /** The agent file, `pgpool-vip-<version>.mjs`. */
  agent: string;
  /** `pgpool-vip-<version>.SHA256SUMS`: one `sha256sum -c` line for the agent file. */
  sums: string;
  sha256: string;
  bytes: number;
}

/** The line `sha256sum` writes for a file in text mode: hex digest, two spaces, name. */
export function sumsLine(sha256: string, fileName: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256 hex digest: ${sha256}`);
  if (!/^[A-Za-z0-9._-]+$/.test(fileName)) throw new Error(`release file name '${fileName}' needs no escaping and must get none`);
  return `${sha256}  ${fileName}\n`;
}

/**
 * Builds the agent as the versioned file operators install on the nodes, and its SHA-256 sums
 * file beside it. The sums name the file without a folder, so `sha256sum -c` runs where both
 * were copied to. The build is deterministic: the same commit gives the same sum.
 */
export async function release(outDir: string = RELEASE_DIR): Promise<Release> {
  const { version } = PackageSchema.parse(JSON.parse(await readFile(PACKAGE_JSON, 'utf8')));
  await mkdir(outDir, { recursive: true });
  const agent = join(outDir, `pgpool-vip-${version}.mjs`);
  const { bytes } = await buildAgent(agent);
  const sha256 = createHash('sha256').update(await readFile(agent)).digest('hex');
  const sums = join(outDir, `pgpool-vip-${version}.SHA256SUMS`);
  await writeFile(sums, sumsLine(sha256, basename(agent)));
  return { version, agent, sums, sha256, bytes };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true, allowPositionals: false });
  const built = await release(values.out === undefined ? RELEASE_DIR : resolve(values.out));
  console.log(`released pgpool-vip ${built.version}: ${built.agent} (${(built.bytes / 1024).toFixed(0)} KiB)`);
  console.log(`sha256 ${built.sha256}: ${built.sums} (check: cd ${join(built.sums, '..')} && sha256sum -c ${basename(built.sums)})`);
}
