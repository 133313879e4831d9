import { builtinModules } from 'node:module';
import { chmod, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/** Where `npm run build` puts the single-file agent that is copied to every pgpool node. */
export const AGENT_BUNDLE = fileURLToPath(new URL('../dist/pgpool-vip.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL('../agent/bin.ts', import.meta.url));
const INSPECTION = fileURLToPath(new URL('../agent/inspection.ts', import.meta.url));
const EMBEDDED = 'pgpool-vip-embedded';
const LAZY_BUILTIN = 'pgpool-vip-lazy-builtin';
const BUILTINS = new Set(builtinModules);

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
 * Node compiles every byte of a module's code when it loads it, whether it runs or not, and
 * the EC2 client alone is larger than the rest of the agent. So the file holds two parts:
 * - `up`, `down`, `--help`, `--version` as code;
 * - `status`, `doctor` and `audit` (agent/inspection.ts, with the EC2, STS and CloudWatch Logs
 *   clients) as brotli-compressed text, unpacked and compiled only when one of them runs.
 * One file still is the whole install, and one checksum verifies it. Node's own modules are
 * loaded when the code that needs them first runs, not at start (lazyBuiltins).
 */
export async function buildAgent(outfile: string = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number; inspectionBytes: number }> {
  const inspection = await build({
    ...shared,
    entryPoints: [INSPECTION],
    format: 'cjs',
    outfile: 'inspection.cjs',
    // Compiled as a function body, which has no import(): built-ins come through require().
    supported: { 'dynamic-import': false },
  });
  const inspectionCode = inspection.outputFiles?.[0]?.contents;
  if (inspectionCode === undefined) throw new Error('esbuild wrote no inspection bundle');
  const packed = brotliCompressSync(inspectionCode, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: inspectionCode.byteLength } }).toString('base64');

  await build({
    ...shared,
    entryPoints: [ENTRY],
    outfile,
    format: 'esm',
    write: true,
    plugins: [embedInspection(packed), lazyBuiltins()],
    banner: {
      // Shebang for `install -m 0755`; require() for the CJS parts of the SDK inside an ESM file.
      js: "#!/usr/bin/env node\nimport { createRequire as __pgpoolVipCreateRequire } from 'node:module';\nconst require = __pgpoolVipCreateRequire(import.meta.url);",
    },
  });
  await chmod(outfile, 0o755);
  return { outfile, bytes: (await stat(outfile)).size, inspectionBytes: inspectionCode.byteLength };
}

/** Replaces agent/inspection.ts with a module that unpacks and compiles the embedded CommonJS bundle. */
function embedInspection(packed: string): Plugin {
  return {
    name: 'embed-inspection',
    setup(plugin) {
      plugin.onResolve({ filter: /\/inspection\.ts$/ }, (args) => {
        const path = fileURLToPath(new URL(args.path, `file://${args.resolveDir}/`));
        return path === INSPECTION ? { path: INSPECTION, namespace: EMBEDDED } : undefined;
      });
      plugin.onLoad({ filter: /.*/, namespace: EMBEDDED }, () => ({
        loader: 'js',
        resolveDir: fileURLToPath(new URL('../agent/', import.meta.url)),
        contents: `
import { createRequire } from 'node:module';
import { compileFunction } from 'node:vm';
import { brotliDecompressSync } from 'node:zlib';
const PACKED = ${JSON.stringify(packed)};
const module = { exports: {} };
const filename = new URL(import.meta.url).pathname + '#inspection.cjs';
compileFunction(brotliDecompressSync(Buffer.from(PACKED, 'base64')).toString('utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], { filename })(
  module.exports, createRequire(import.meta.url), module, filename, '.');
export const { runAudit, runDoctor, runStatus } = module.exports;
`,
      }));
    },
  };
}

/**
 * An ESM bundle hoists every `import ... from 'node:crypto'` to the top of the file, so Node
 * would load TLS, crypto and zlib for `--version`. Imported through a one-line CommonJS module
 * instead, a built-in loads only when the first module that uses it is evaluated.
 */
function lazyBuiltins(): Plugin {
  return {
    name: 'lazy-builtins',
    setup(plugin) {
      plugin.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
        const name = args.path.replace(/^node:/, '');
        if (!BUILTINS.has(name)) return undefined;
        if (args.kind === 'require-call' || args.kind === 'dynamic-import') return { path: args.path, external: true };
        return { path: `node:${name}`, namespace: LAZY_BUILTIN };
      });
      plugin.onLoad({ filter: /.*/, namespace: LAZY_BUILTIN }, (args) => ({
        loader: 'js',
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
      }));
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes, inspectionBytes } = await buildAgent();
  console.log(`built ${outfile} (${(bytes / 1024).toFixed(0)} KiB; status/doctor/audit ${(inspectionBytes / 1024).toFixed(0)} KiB unpacked)`);
}
