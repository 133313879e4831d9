// First: it must run before any SDK client is built.
import './sdk-warnings.ts';
import { processIo } from './io.ts';
import { AGENT_VERSION } from './version.ts';

const argv = process.argv.slice(2);
// Answered before the commands' code is even compiled (the bundle carries it as text, see
// scripts/build-agent.ts); any other spelling goes through the parser as before.
if (argv.length === 1 && argv[0] === '--version') {
  process.stdout.write(`pgpool-vip ${AGENT_VERSION}\n`);
  process.exit(0);
}
const { main, codeCacheCommand } = await import('./main.ts');
// At install time, by root: V8's compiled commands beside this file (agent/code-cache.ts).
if (argv[0] === 'code-cache') process.exit(await codeCacheCommand(argv.slice(1), processIo()));
// The one exit point: sockets kept alive must not hold pgpool's if_up_cmd open.
process.exit(await main(argv, processIo()));
