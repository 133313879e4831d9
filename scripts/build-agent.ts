import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/** Where `npm run build` puts the single-file agent that is copied to every pgpool node. */
export const AGENT_BUNDLE = fileURLToPath(new URL('../dist/pgpool-vip.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL('../agent/bin.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../agent/main.ts', import.meta.url));
const INSPECTION = fileURLToPath(new URL('../agent/inspection.ts', import.meta.url));
const EMBEDDED = 'pgpool-vip-embedded';
/** Starts the file's last line: a comment that carries the packed inspection bundle. */
const INSPECTION_TRAILER = '//pgpool-vip-inspection:';

const shared: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  // The SDK's ESM builds first: smaller, and about half the start-up time of the CJS ones.
  mainFields: ['module', 'main'],
  // Less to read and compile on every start: pgpool runs `up` on the critical path of a failover.
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
};

/**
 * Bundles the agent into one executable ESM file that runs with plain `node` 22+ (the
 * version the pgpool nodes need; `doctor` checks it).
 *
 * Node compiles every byte of a module's code when it loads it, whether it runs or not, so the
 * file is a small entry (agent/bin.ts) with the rest carried as text and compiled only when a
 * command needs it:
 * - `--version` alone is answered by the entry;
 * - every other command (agent/main.ts: the parser, `up`, `down`, `--help`) is one CommonJS
 *   bundle, compiled when the entry needs it, from V8's code cache beside the file when root
 *   wrote one at install (`pgpool-vip code-cache`, agent/code-cache.ts);
 * - `status`, `doctor` and `audit` (agent/inspection.ts, with the EC2, STS and CloudWatch Logs
 *   clients) as brotli-compressed base64 in a comment on the file's last line, read back from the
 *   file, unpacked and compiled only when one of them runs. Kept out of the main bundle's text
 *   (it was three quarters of it), `up` and `down` do not compile it: V8 skips a comment faster
 *   than it reads a string literal, and the main bundle's compile sees only the commands' code.
 * One file still is the whole install, and one checksum verifies it. In the CommonJS bundles a
 * module's built-ins are required when that module is first used, so `up` never loads the
 * TLS, zlib or child-process code it does not need.
 */
export async function buildAgent(outfile: string = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number; inspectionBytes: number; mainBytes: number }> {
  // Compiled as function bodies, which have no import(): built-ins come through require().
  const commonJs: BuildOptions = { ...shared, format: 'cjs', supported: { 'dynamic-import': false } };
  const inspection = await build({ ...commonJs, entryPoints: [INSPECTION], outfile: 'inspection.cjs' });
  const inspectionCode = inspection.outputFiles?.[0]?.contents;
  if (inspectionCode === undefined) throw new Error('esbuild wrote no inspection bundle');
  // Quality 9 packs its ~1.5 MiB in a quarter of a second; 11, brotli's best, took 2.7 s of CPU
  // on every build and release for a pack 8% smaller (300 KiB instead of 328 KiB). Both unpack in
  // ~10 ms, and only when status, doctor or audit runs.
  const packed = brotliCompressSync(inspectionCode, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: inspectionCode.byteLength } }).toString('base64');

  const main = await build({ ...commonJs, entryPoints: [MAIN], outfile: 'main.cjs', plugins: [embedInspection()] });
  const mainCode = main.outputFiles?.[0]?.text;
  if (mainCode === undefined) throw new Error('esbuild wrote no main bundle');

  const entry = await build({
    ...shared,
    entryPoints: [ENTRY],
    outfile,
    // A plain script (no import statement, no top-level await; agent/builtins.ts): Node runs the
    // installed file, which has no extension, through its CommonJS loader at once, instead of
    // failing to load it as CommonJS first and then loading it again as an ES module.
    format: 'iife',
    plugins: [embedMain(mainCode)],
    banner: { js: '#!/usr/bin/env node' },
  });
  const entryCode = entry.outputFiles?.[0]?.text;
  if (entryCode === undefined) throw new Error('esbuild wrote no entry bundle');
  await mkdir(dirname(outfile), { recursive: true });
  // Base64 has no line break, so the comment is one line, the last one of the file.
  await writeFile(outfile, `${entryCode}${INSPECTION_TRAILER}${packed}\n`);
  await chmod(outfile, 0o755);
  return { outfile, bytes: (await stat(outfile)).size, inspectionBytes: inspectionCode.byteLength, mainBytes: Buffer.byteLength(mainCode) };
}

/**
 * Replaces agent/main.ts with a module that compiles the main CommonJS bundle carried as text when
 * a command first needs it, from the code cache beside the agent file when root has written one
 * (agent/code-cache.ts), and runs it. `code-cache` writes that cache.
 */
function embedMain(code: string): Plugin {
  const digest = createHash('sha256').update(code, 'utf8').digest('hex');
  return embedded('embed-main', MAIN, `
import { entryBuiltins } from './builtins.ts';
import { compileCommands, readCodeCache, runCodeCacheCommand } from './code-cache.ts';
const CODE = ${JSON.stringify(code)};
let loading;
/** Node's modules, the agent file's real path and the commands' code, once. */
function build() {
  loading ??= entryBuiltins().then((node) => {
    // The entry is the main script: argv[1] is this file, and its real path is where the cache sits.
    const agentFile = node.fs.realpathSync(process.argv[1]);
    return { node, build: { code: CODE, codeDigest: ${JSON.stringify(digest)}, agentFile, filename: agentFile + '#main.cjs' } };
  });
  return loading;
}
export async function main(argv, io) {
  const { node, build: commands } = await build();
  const cache = readCodeCache(node, commands.agentFile, commands.codeDigest);
  if (cache.warning !== undefined) io.stderr('pgpool-vip: warning: ' + cache.warning);
  const exports = compileCommands(node, commands.code, commands.filename, cache.data).run(node.createRequire(commands.agentFile), commands.agentFile);
  return await exports.main(argv, io);
}
export async function codeCacheCommand(args, io) {
  const { node, build: commands } = await build();
  return await runCodeCacheCommand(node, args, io, commands);
}
`);
}

/**
 * Replaces agent/inspection.ts (inside the main bundle, which is CommonJS: `require` and
 * `__filename` are the entry's) with a module that reads the packed inspection bundle from the
 * agent file's last line, unpacks and compiles it.
 */
function embedInspection(): Plugin {
  return embedded('embed-inspection', INSPECTION, `
const { readFileSync } = require('node:fs');
const { compileFunction } = require('node:vm');
const { brotliDecompressSync } = require('node:zlib');
const TRAILER = ${JSON.stringify(INSPECTION_TRAILER)};
const file = readFileSync(__filename, 'latin1').trimEnd();
const last = file.slice(file.lastIndexOf('\\n') + 1);
if (!last.startsWith(TRAILER)) throw new Error(__filename + ' has lost the status, doctor and audit code its last line carries: copy the released file again');
const compiled = { exports: {} };
const filename = __filename + '#inspection.cjs';
compileFunction(brotliDecompressSync(Buffer.from(last.slice(TRAILER.length), 'base64')).toString('utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], { filename })(
  compiled.exports, require, compiled, filename, '.');
export const { runAudit, runDoctor, runStatus } = compiled.exports;
`);
}

/** Resolves imports of one source file to generated contents instead. */
function embedded(name: string, source: string, contents: string): Plugin {
  return {
    name,
    setup(plugin) {
      plugin.onResolve({ filter: new RegExp(`/${basename(source).replace('.', '\\.')}$`) }, (args) => {
        const path = fileURLToPath(new URL(args.path, `file://${args.resolveDir}/`));
        return path === source ? { path: source, namespace: EMBEDDED } : undefined;
      });
      plugin.onLoad({ filter: /.*/, namespace: EMBEDDED }, (args) => (args.path === source ? { loader: 'js', resolveDir: dirname(source), contents } : undefined));
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes, mainBytes, inspectionBytes } = await buildAgent();
  const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  console.log(`built ${outfile} (${kib(bytes)}; commands ${kib(mainBytes)}, of which status/doctor/audit packed; those ${kib(inspectionBytes)} unpacked)`);
}
