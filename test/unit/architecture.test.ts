import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function tsFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder)).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(join(ROOT, path)).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Every module `file` reaches through its imports: project files (relative to the root) and packages.
 * A relative import of no file here is text, not an import of this file (the agent build writes
 * the source of a module it bundles from agent/): the type check fails on a real one.
 */
function reach(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  if (file.endsWith('.ts') && !existsSync(join(ROOT, file))) return seen;
  seen.add(file);
  if (!file.endsWith('.ts')) return seen;
  const text = readFileSync(join(ROOT, file), 'utf8');
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? '';
    if (specifier.startsWith('.')) reach(relative(ROOT, resolve(ROOT, dirname(file), specifier)), seen);
    else seen.add(specifier);
  }
  return seen;
}

const PRODUCTION = ['functions', 'agent', 'lib', 'infra', 'scripts'];

describe('Architecture: who may import what', () => {
  it('keeps the core free of SDKs and frameworks: zod and node only', () => {
    const packages = tsFiles('functions/core').flatMap((file) => [...reach(file)].filter((module) => !module.endsWith('.ts')));

    const foreign = [...new Set(packages)].filter((module) => module !== 'zod' && !module.startsWith('node:'));

    expect(tsFiles('functions/core').length).toBeGreaterThan(5);
    expect(foreign).toEqual([]);
  });

  it('keeps production code from importing the test kit, the local harness or the drill', () => {
    const offenders = PRODUCTION.flatMap(tsFiles).flatMap((file) =>
      [...reach(file)].filter((module) => /^(test|local|drill)\//.test(module)).map((module) => `${file} -> ${module}`),
    );

    expect(offenders).toEqual([]);
  });

  it('keeps the benchmarks off the test kit', () => {
    const offenders = tsFiles('bench').flatMap((file) => [...reach(file)].filter((module) => module.startsWith('test/')).map((module) => `${file} -> ${module}`));

    expect(offenders).toEqual([]);
  });

  it('finds imports the way the checks above rely on', () => {
    expect([...reach('functions/switchover/handler.ts')]).toEqual(expect.arrayContaining(['@aws-sdk/client-ec2', 'functions/core/decide.ts', 'lib/contract.ts']));
  });
});
