// First: it must run before any SDK client is built.
import './sdk-warnings.ts';
import { processIo } from './io.ts';
import { AGENT_VERSION } from './version.ts';

/**
 * The agent file's entry. No top-level await and no import of Node's modules: built, it is a plain
 * script (scripts/build-agent.ts), which Node runs through its CommonJS loader at once when the
 * file is installed without an extension, as pgpool.conf names it.
 */
async function run(argv: readonly string[]): Promise<number> {
  // Answered before the commands' code is even compiled (the bundle carries it as text, see
  // scripts/build-agent.ts); any other spelling goes through the parser as before.
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`pgpool-vip ${AGENT_VERSION}\n`);
    return 0;
  }
  const { main, codeCacheCommand } = await import('./main.ts');
  // At install time, by root: V8's compiled commands beside this file (agent/code-cache.ts).
  if (argv[0] === 'code-cache') return await codeCacheCommand(argv.slice(1), processIo());
  return await main(argv, processIo());
}

// The one exit point: sockets kept alive must not hold pgpool's if_up_cmd open.
void run(process.argv.slice(2)).then((code) => process.exit(code));
