import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmod, chown, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryBuiltins } from '../../agent/builtins.ts';
import { CODE_CACHE_MAX_BYTES, checkCodeCache, codeCacheHeader, codeCachePath, compileCommands, readCodeCache, writeCodeCache, type CommandsBuild } from '../../agent/code-cache.ts';

// V8 runs a code cache's bytecode as the code itself: the agent hands it over only when the file
// is as trustworthy as the agent file and was made for this very build and Node.
const CODE = 'exports.answer = function answer(question) { return `the answer to ${question} is 42`; };';
const DIGEST = 'a'.repeat(64);
let dir: string;
let n = 0;
const node = await entryBuiltins();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-code-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An agent file of its own in the folder, with the build facts the entry would have. */
async function agentFile(): Promise<CommandsBuild> {
  n += 1;
  const path = join(dir, `pgpool-vip-${n}.mjs`);
  await writeFile(path, '// the agent file\n', { mode: 0o755 });
  return { code: CODE, codeDigest: DIGEST, agentFile: path, filename: `${path}#main.cjs` };
}

describe('Function: the code cache beside the agent file', () => {
  it('is simply absent until root writes one: the commands compile from source, nothing is said', async () => {
    const build = await agentFile();
    expect(readCodeCache(node, build.agentFile, DIGEST)).toEqual({});
    expect(checkCodeCache(node, build)).toEqual({ used: false, line: `no code cache at ${codeCachePath(build.agentFile)}: the commands are compiled at each start` });
  });

  it('once written (mode 0644, the header naming the build and Node), is read, accepted by V8 and runs the same code', async () => {
    const build = await agentFile();
    const { path, bytes } = await writeCodeCache(node, build);
    expect(path).toBe(`${build.agentFile}.code-cache`);
    expect(bytes).toBeGreaterThan(0);
    const read = readCodeCache(node, build.agentFile, DIGEST);
    expect(read.warning).toBeUndefined();
    expect(read.data?.length).toBe(bytes);
    const compiled = compileCommands(node, CODE, build.filename, read.data);
    expect(compiled.cacheRejected).toBe(false);
    expect((compiled.run(createRequire(import.meta.url), build.agentFile).answer as (q: string) => string)('life')).toBe('the answer to life is 42');
    expect(checkCodeCache(node, build)).toEqual({ used: true, line: `code cache ${path} is used by Node ${process.version}` });
  });

  it('is used by a fresh Node with default flags, not only by the process that wrote it', async () => {
    const build = await agentFile();
    await writeCodeCache(node, build);
    const script = `
      const { Script } = require('node:vm');
      const { readFileSync } = require('node:fs');
      const raw = readFileSync(${JSON.stringify(codeCachePath(build.agentFile))});
      const data = raw.subarray(raw.indexOf(10) + 1);
      const wrapped = '(function (exports, require, module, __filename, __dirname) {' + ${JSON.stringify(CODE)} + '\\n})';
      process.stdout.write(String(new Script(wrapped, { filename: ${JSON.stringify(build.filename)}, cachedData: data }).cachedDataRejected));`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })).toBe('false');
  });

  it('is not used, with a reason, when it was made for another build or another Node', async () => {
    const build = await agentFile();
    await writeCodeCache(node, build);
    const other = readCodeCache(node, build.agentFile, 'b'.repeat(64));
    expect(other.data).toBeUndefined();
    expect(other.warning).toBe(
      `code cache ${codeCachePath(build.agentFile)} not used: it was made for another build of the agent or another Node; run 'sudo ${build.agentFile} code-cache' again`,
    );
    await writeFile(codeCachePath(build.agentFile), codeCacheHeader(DIGEST).replace(process.version, 'v0.0.0') + 'bytes', { mode: 0o644 });
    expect(readCodeCache(node, build.agentFile, DIGEST).warning).toMatch(/made for another build of the agent or another Node/);
    await writeFile(codeCachePath(build.agentFile), codeCacheHeader(DIGEST), { mode: 0o644 });
    expect(readCodeCache(node, build.agentFile, DIGEST).warning).toMatch(/made for another build of the agent or another Node/);
  });

  it('is not used when group or others may write it: whoever can write it would choose the code that runs', async () => {
    const build = await agentFile();
    await writeCodeCache(node, build);
    for (const mode of [0o664, 0o646, 0o666]) {
      await chmod(codeCachePath(build.agentFile), mode);
      const read = readCodeCache(node, build.agentFile, DIGEST);
      expect(read.data).toBeUndefined();
      expect(read.warning).toBe(
        `code cache ${codeCachePath(build.agentFile)} not used: it is writable by group or others (mode 0${mode.toString(8)}); run 'sudo ${build.agentFile} code-cache' again`,
      );
    }
  });

  it('is not used when it is a symbolic link or not a regular file', async () => {
    const build = await agentFile();
    const target = join(dir, `elsewhere-${n}`);
    await writeFile(target, codeCacheHeader(DIGEST) + 'bytes', { mode: 0o644 });
    await symlink(target, codeCachePath(build.agentFile));
    expect(readCodeCache(node, build.agentFile, DIGEST)).toEqual({ warning: `code cache ${codeCachePath(build.agentFile)} not used: it is a symbolic link` });

    const other = await agentFile();
    execFileSync('mkdir', [codeCachePath(other.agentFile)]);
    expect(readCodeCache(node, other.agentFile, DIGEST).warning).toMatch(/not used: (it is not a regular file|it cannot be read \(EISDIR\))/);
  });

  it('is not read into memory when it is larger than any cache of the agent', async () => {
    const build = await agentFile();
    await writeFile(codeCachePath(build.agentFile), codeCacheHeader(DIGEST), { mode: 0o644 });
    execFileSync('truncate', ['-s', String(CODE_CACHE_MAX_BYTES + 1), codeCachePath(build.agentFile)]);
    expect(readCodeCache(node, build.agentFile, DIGEST).warning).toBe(
      `code cache ${codeCachePath(build.agentFile)} not used: ${CODE_CACHE_MAX_BYTES + 1} bytes is no cache of this agent; run 'sudo ${build.agentFile} code-cache' again`,
    );
  });

  it.skipIf(process.getuid?.() !== 0)('is not used when someone other than the agent file\'s owner owns it (runs as root)', async () => {
    const build = await agentFile();
    await writeCodeCache(node, build);
    await chown(codeCachePath(build.agentFile), 65534, 65534);
    expect(readCodeCache(node, build.agentFile, DIGEST).warning).toBe(
      `code cache ${codeCachePath(build.agentFile)} not used: it is owned by uid 65534, the agent file by uid 0; run 'sudo ${build.agentFile} code-cache' again`,
    );
  });

  it('compiles from source when V8 refuses the data it is given', () => {
    const compiled = compileCommands(node, CODE, join(dir, 'x#main.cjs'), Buffer.from('not a V8 code cache'));
    expect(compiled.cacheRejected).toBe(true);
    expect((compiled.run(createRequire(import.meta.url), join(dir, 'x')).answer as (q: string) => string)('everything')).toBe('the answer to everything is 42');
  });
});
