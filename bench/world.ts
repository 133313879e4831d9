/**
 * What a moto world costs (numbers only, never asserted):
 *   npm run bench:world [-- runs]
 * - `serverless package` into a fresh folder: what a change to the service's inputs costs once;
 * - the package cache's answer in a process that has not read it yet (inputs digest + template);
 * - createWorld against one moto_server (after one world that pays moto's first call to each
 *   service), median of `runs` worlds with different prefixes;
 * - the machine's load average, since two cores are shared with whatever else runs.
 */
import { loadavg } from 'node:os';
import { destroyClients, motoClients } from '../local/aws-clients.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { cachedPackage, packagedService, runPackage } from '../local/packaged-service.ts';
import { createWorld } from '../local/world.ts';

const RUNS = Number(process.argv[2] ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

const load = (): string => loadavg().map((value) => value.toFixed(2)).join(' ');
process.stdout.write(`load average at start: ${load()}\n`);

const ensured = await timed(() => packagedService());
const warm = await timed(() => {
  if (cachedPackage() === undefined) throw new Error('the package cache has no entry for the current inputs');
  return Promise.resolve();
});
const cold = await timed(async () => {
  const run = await runPackage();
  run.cleanup();
  if (run.status !== 0) throw new Error(`serverless package failed:\n${run.stderr}`);
});

const moto = await startMotoServer();
const clients = motoClients(moto.endpoint);
try {
  const first = await timed(() => createWorld(clients, { prefix: 'first-' }));
  const worlds: number[] = [];
  for (let index = 0; index < RUNS; index += 1) worlds.push(await timed(() => createWorld(clients, { prefix: `bench${index}-` })));
  const rows: Array<[string, number]> = [
    ['serverless package, cold (fresh folder)', cold],
    ['package cache, first read in a process (digest + template)', warm],
    [`packagedService() at the start of this run (${ensured > 1000 ? 'packaged: the cache was cold' : 'cache hit'})`, ensured],
    ['createWorld, first on a new moto_server', first],
    [`createWorld, median of ${RUNS} (min ${Math.min(...worlds).toFixed(0)}, max ${Math.max(...worlds).toFixed(0)})`, median(worlds)],
  ];
  process.stdout.write('| measure | ms |\n| --- | --- |\n');
  for (const [measure, ms] of rows) process.stdout.write(`| ${measure} | ${ms.toFixed(0)} |\n`);
  process.stdout.write(`load average at end: ${load()}\n`);
} finally {
  destroyClients(clients);
  await moto.stop();
}
