// What the caches of built artefacts (the packaged service, the agent bundle) share: the digest of
// their inputs that keys an entry, and the folder a build is written into before it is renamed into place.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function inputFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((entry) => inputFiles(join(path, entry.name)));
}

/**
 * A digest of `salt` and every input file's path (relative to `root`) and content; a folder
 * stands for every file under it, in name order.
 */
export function inputsDigest(root: string, inputs: readonly string[], salt: string): string {
  const hash = createHash('sha256').update(`${salt}\n`);
  for (const file of inputs.flatMap((input) => inputFiles(join(root, input)))) {
    hash.update(`${relative(root, file)}\n`).update(readFileSync(file)).update('\n');
  }
  return hash.digest('hex').slice(0, 24);
}

/**
 * A fresh folder beside the cache entry to build into, so that a build is renamed into place whole
 * and processes building the same entry at once never see half of one; none when this user cannot
 * write the cache (one `sudo npm run drill` made it).
 */
export function folderBeside(cache: string, entry: string): string | undefined {
  try {
    mkdirSync(cache, { recursive: true });
    return mkdtempSync(`${entry}.partial-`);
  } catch {
    return undefined;
  }
}
