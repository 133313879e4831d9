// First: it must run before any SDK client is built.
import './sdk-warnings.ts';
import { processIo } from './io.ts';
import { main } from './main.ts';

// The one exit point: sockets the SDK keeps alive must not hold pgpool's if_up_cmd open.
process.exit(await main(process.argv.slice(2), processIo()));
