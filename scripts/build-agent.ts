import { chmod, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Where `npm run build` puts the single-file agent that is copied to every pgpool node. */
export const AGENT_BUNDLE = fileURLToPath(new URL('../dist/pgpool-vip.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL('../agent/bin.ts', import.meta.url));

/** Bundles the agent and the SDK into one executable ESM file that runs with plain `node` 20+. */
export async function buildAgent(outfile: string = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The SDK's ESM builds first: smaller, and about half the start-up time of the CJS ones.
    mainFields: ['module', 'main'],
    minify: false,
    legalComments: 'none',
    banner: {
      // Shebang for `install -m 0755`; require() for the CJS parts of the SDK inside an ESM file.
      js: "#!/usr/bin/env node\nimport { createRequire as __pgpoolVipCreateRequire } from 'node:module';\nconst require = __pgpoolVipCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
  return { outfile, bytes: (await stat(outfile)).size };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildAgent();
  console.log(`built ${outfile} (${(bytes / 1024).toFixed(0)} KiB)`);
}
