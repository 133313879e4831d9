import type { Script } from 'node:vm';
import type { EntryBuiltins } from './builtins.ts';
import { EXIT, type ExitCode } from './errors.ts';
import type { AgentIo } from './io.ts';

/**
 * V8's compiled form of the agent's commands, kept in a file beside the agent file so that `up`
 * and `down` skip compiling their code on every start (about a sixth of their CPU before the
 * request leaves). root writes it once per install with `pgpool-vip code-cache`, with the Node
 * that runs the agent.
 *
 * V8 runs a cache's bytecode as the code itself and checks little of it against the source, so
 * the file is trusted exactly as far as the agent file is: it must be a regular file (not a
 * link) owned by the agent file's owner, writable by nobody else, and its first line must name
 * this build's code digest and this Node. Anything else is not handed to V8: the commands are
 * compiled from source as without a cache, and a cache that cannot be trusted or is stale says
 * so on stderr once.
 */

/** The cache beside an agent file (its real path: a link to it shares the one cache). */
export function codeCachePath(agentFile: string): string {
  return `${agentFile}.code-cache`;
}

/** Bounds the read: the commands' cache is a few hundred KiB. */
export const CODE_CACHE_MAX_BYTES = 16 * 1024 * 1024;

/** The cache's first line: the build (its commands' SHA-256) and the Node it was made by. */
export function codeCacheHeader(codeDigest: string): string {
  return `pgpool-vip code cache ${codeDigest} node ${process.version} ${process.arch} v8 ${process.versions.v8}\n`;
}

export interface CodeCacheRead {
  /** V8's data, when the file is there, trusted and made for this build and Node. */
  data?: Buffer;
  /** Why a cache that is there was not used (untrusted or stale), for one stderr line. */
  warning?: string;
}

/** The cache for this build, if there is one and it may be used. Never throws. */
export function readCodeCache(node: EntryBuiltins, agentFile: string, codeDigest: string): CodeCacheRead {
  const { closeSync, constants, fstatSync, openSync, readSync, statSync } = node.fs;
  const path = codeCachePath(agentFile);
  const redo = `run 'sudo ${agentFile} code-cache' again`;
  let fd: number;
  try {
    // No link is followed, and a FIFO put there cannot hold the command.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    return { warning: `code cache ${path} not used: ${code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be read (${code ?? 'error'})`}` };
  }
  try {
    const stat = fstatSync(fd);
    const owner = statSync(agentFile).uid;
    if (!stat.isFile()) return { warning: `code cache ${path} not used: it is not a regular file` };
    if (stat.uid !== owner) return { warning: `code cache ${path} not used: it is owned by uid ${stat.uid}, the agent file by uid ${owner}; ${redo}` };
    if ((stat.mode & 0o022) !== 0) {
      return { warning: `code cache ${path} not used: it is writable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); ${redo}` };
    }
    if (stat.size > CODE_CACHE_MAX_BYTES) return { warning: `code cache ${path} not used: ${stat.size} bytes is no cache of this agent; ${redo}` };
    const buffer = Buffer.alloc(stat.size);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, length);
      if (read === 0) break;
      length += read;
    }
    const header = codeCacheHeader(codeDigest);
    if (length <= header.length || buffer.toString('latin1', 0, header.length) !== header) {
      return { warning: `code cache ${path} not used: it was made for another build of the agent or another Node; ${redo}` };
    }
    return { data: buffer.subarray(header.length, length) };
  } catch (error) {
    return { warning: `code cache ${path} not used: ${(error as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

/** The commands' CommonJS code as one function of the usual module parameters. */
function wrapped(code: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

export interface CompiledCommands {
  /** Runs the commands' module code; returns its exports. */
  run(require: NodeJS.Require, filename: string): Record<string, unknown>;
  /** V8 rejected the cache it was given (another V8 or flags): compiled from source instead. */
  cacheRejected: boolean;
}

/** Compiles the commands' code, from the cache when one is given and V8 accepts it. */
export function compileCommands(node: EntryBuiltins, code: string, filename: string, cachedData: Buffer | undefined): CompiledCommands {
  const script = new node.vm.Script(wrapped(code), { filename, ...(cachedData === undefined ? {} : { cachedData }) });
  return {
    cacheRejected: cachedData !== undefined && script.cachedDataRejected === true,
    run(require, moduleFilename) {
      const module = { exports: {} as Record<string, unknown> };
      (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, moduleFilename, '.');
      return module.exports;
    },
  };
}

/**
 * Writes the cache for this build with this Node (`pgpool-vip code-cache`, at install time, as
 * the agent file's owner). Every function is compiled, not only those a start would reach, so one
 * cache serves `up` and `down` without running either. Written beside the agent under a
 * temporary name and renamed over the old one: a command starting meanwhile reads the old file
 * or the new one. Returns the cache's path and size.
 */
export async function writeCodeCache(node: EntryBuiltins, build: CommandsBuild): Promise<{ path: string; bytes: number }> {
  const { renameSync, rmSync, writeFileSync } = node.fs;
  // Loaded here only: the agent's entry, which `--version` runs, has no use for it.
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--no-lazy');
  let script: Script;
  try {
    script = new node.vm.Script(wrapped(build.code), { filename: build.filename });
  } finally {
    setFlagsFromString('--lazy');
  }
  // Serialized after the flags are back: V8 stamps the cache with the flags in force now, and a
  // start (default flags) refuses a cache stamped with others.
  const data = script.createCachedData();
  const path = codeCachePath(build.agentFile);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, Buffer.concat([Buffer.from(codeCacheHeader(build.codeDigest), 'latin1'), data]), { flag: 'wx', mode: 0o644 });
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return { path, bytes: data.length };
}

/** Whether a start of this agent file with this Node uses its cache: a line saying so, or why not. */
export function checkCodeCache(node: EntryBuiltins, build: CommandsBuild): { used: boolean; line: string } {
  const path = codeCachePath(build.agentFile);
  const read = readCodeCache(node, build.agentFile, build.codeDigest);
  if (read.warning !== undefined) return { used: false, line: read.warning };
  if (read.data === undefined) return { used: false, line: `no code cache at ${path}: the commands are compiled at each start` };
  if (compileCommands(node, build.code, build.filename, read.data).cacheRejected) {
    return { used: false, line: `code cache ${path} not used: V8 refused it (another Node or V8 flags); run 'sudo ${build.agentFile} code-cache' again` };
  }
  return { used: true, line: `code cache ${path} is used by Node ${process.version}` };
}

/** What the built agent file knows of its own commands' code. */
export interface CommandsBuild {
  code: string;
  /** SHA-256 of `code`, written into the agent file when it is built. */
  codeDigest: string;
  /** The agent file's real path. */
  agentFile: string;
  /** The name V8 and stack traces give the commands' code. */
  filename: string;
}

/**
 * `pgpool-vip code-cache`: writes the cache beside the agent file, then has a fresh Node (with
 * default flags, as pgpool starts it) check that it uses it; a cache it refuses is removed.
 * `pgpool-vip code-cache --check`: that check alone.
 */
export async function runCodeCacheCommand(node: EntryBuiltins, args: readonly string[], io: AgentIo, build: CommandsBuild): Promise<ExitCode> {
  if (args.length === 1 && args[0] === '--check') {
    const { used, line } = checkCodeCache(node, build);
    if (used) io.stdout(`pgpool-vip: ${line}`);
    else io.stderr(`pgpool-vip: ${line}`);
    return used ? EXIT.done : EXIT.failed;
  }
  if (args.length > 0) {
    io.stderr(`pgpool-vip: code-cache takes no arguments but --check (got ${args.join(' ')}); run it as the agent file's owner (root) after installing the file`);
    return EXIT.usage;
  }
  let written: { path: string; bytes: number };
  try {
    written = await writeCodeCache(node, build);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' ? `cannot write beside ${build.agentFile} (${code}): run it as the agent file's owner (root)` : (error as Error).message;
    io.stderr(`pgpool-vip: code-cache: ${why}`);
    return EXIT.failed;
  }
  const { spawnSync } = await import('node:child_process');
  const check = spawnSync(process.execPath, [build.agentFile, 'code-cache', '--check'], { encoding: 'utf8', timeout: 60_000 });
  if (check.status !== 0) {
    node.fs.rmSync(written.path, { force: true });
    io.stderr(`pgpool-vip: code-cache: removed ${written.path} again: ${(check.stderr || check.stdout || String(check.error ?? check.signal)).trim().replace(/^pgpool-vip: /, '')}`);
    return EXIT.failed;
  }
  io.stdout(`pgpool-vip: wrote ${written.path} (${Math.round(written.bytes / 1024)} KiB), used by Node ${process.version}; run this again after each upgrade of the agent or of Node`);
  return EXIT.done;
}
