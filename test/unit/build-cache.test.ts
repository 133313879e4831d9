import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { folderBeside, inputsDigest } from '../../local/build-cache.ts';

// What keys the package and agent-bundle caches, and where a build goes before its rename.
describe('Build cache', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pgpool-vip-build-cache-'));
    mkdirSync(join(root, 'agent'));
    writeFileSync(join(root, 'agent', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'package.json'), '{}\n');
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('gives the same digest for the same inputs, and another when a file under a folder changes, is added, or the salt differs', () => {
    const inputs = ['agent', 'package.json'];
    const before = inputsDigest(root, inputs, 'agent bundle');

    expect(inputsDigest(root, inputs, 'agent bundle')).toBe(before);
    expect(inputsDigest(root, inputs, 'package')).not.toBe(before);
    writeFileSync(join(root, 'agent', 'a.ts'), 'export const a = 2;\n');
    const changed = inputsDigest(root, inputs, 'agent bundle');
    expect(changed).not.toBe(before);
    writeFileSync(join(root, 'agent', 'b.ts'), '');
    expect(inputsDigest(root, inputs, 'agent bundle')).not.toBe(changed);
  });

  it('makes a fresh folder beside the entry to build into, and none when the cache cannot be made', () => {
    const cache = join(root, 'cache');
    const entry = join(cache, 'abc');

    const first = folderBeside(cache, entry);
    const second = folderBeside(cache, entry);
    writeFileSync(join(root, 'a-file'), '');

    expect(first).toMatch(new RegExp(`^${entry}\\.partial-`));
    expect(second).not.toBe(first);
    expect(folderBeside(join(root, 'a-file', 'cache'), join(root, 'a-file', 'cache', 'abc'))).toBeUndefined();
  });
});
