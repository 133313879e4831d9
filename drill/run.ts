/**
 * `npm run drill` (as root): builds the drill's network namespaces, runs world-main.ts (the
 * scenarios) or soak-main.ts (`--soak N`) inside the AWS namespace, and removes every namespace
 * and process it created when that ends, fails, or is interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildAgent } from '../scripts/build-agent.ts';
import { seedFrom } from '../local/front-door/random.ts';
import { createNetwork, destroyNetwork, drillNamespaces } from './netns.ts';
import { parseDrillOptions, USAGE } from './options.ts';
import { ensurePgpool } from './pgpool-install.ts';
import { POSTGRES_BIN } from './postgres-backend.ts';
import { namespaceArgv } from './processes.ts';
import { AWS_HOST, NS_PREFIX } from './topology.ts';

/**
 * Exit codes: 0 all pgpool-vip verdicts pass (soak: no check broken), 1 a verdict failed or a
 * check broke, 2 not root, 3 missing prerequisite, 64 bad arguments, 130 interrupted.
 */
const EXIT = { passed: 0, failed: 1, notRoot: 2, missing: 3, usage: 64, interrupted: 130 } as const;

const PREREQUISITES: Array<{ what: string; present: () => boolean; install: string }> = [
  { what: 'PostgreSQL 15 server', present: () => existsSync(join(POSTGRES_BIN, 'postgres')), install: 'apt-get install -y postgresql-15' },
  { what: 'ping (pgpool checks the VIP with it)', present: () => existsSync('/usr/bin/ping'), install: 'apt-get install -y iputils-ping' },
  { what: "Debian's AWS CLI (/usr/bin/aws, for the article's script)", present: () => existsSync('/usr/bin/aws'), install: 'apt-get install -y awscli' },
  { what: 'curl (the article\'s script reads IMDS with it)', present: () => existsSync('/usr/bin/curl'), install: 'apt-get install -y curl' },
  { what: 'setpriv (runs pgpool as postgres)', present: () => existsSync('/usr/bin/setpriv'), install: 'apt-get install -y util-linux' },
  { what: 'user postgres', present: () => spawnSync('id', ['postgres']).status === 0, install: 'apt-get install -y postgresql-15' },
  { what: 'moto_server', present: () => spawnSync('sh', ['-c', 'command -v moto_server']).status === 0, install: "pip install 'moto[server]'" },
];

const say = (line: string): void => console.log(`drill: ${line}`);

async function main(): Promise<number> {
  let options: ReturnType<typeof parseDrillOptions>;
  try {
    options = parseDrillOptions(process.argv.slice(2), join(import.meta.dirname, '..'));
  } catch (error) {
    console.error(`drill: ${(error as Error).message}`);
    console.error(USAGE);
    return EXIT.usage;
  }
  // First, so a failing run can always be repeated with the same draws.
  if (options.soak !== null) say(`soak seed ${options.soak.seed}${options.soak.seedGiven ? '' : ' (random)'}`);
  const latency = options.latency;
  const latencySeed = seedFrom(process.env.PGVD_LATENCY_SEED);
  if (process.getuid?.() !== 0) {
    console.error('drill: the drill creates network namespaces and runs pgpool2 and PostgreSQL in them; it needs root.');
    console.error('drill: run it as: sudo npm run drill');
    return EXIT.notRoot;
  }
  const missing = PREREQUISITES.filter((prerequisite) => !prerequisite.present());
  if (missing.length > 0) {
    for (const prerequisite of missing) console.error(`drill: missing ${prerequisite.what}: ${prerequisite.install}`);
    return EXIT.missing;
  }
  const pgpool = ensurePgpool(options.pgpool, say);
  if ('missing' in pgpool) {
    console.error(`drill: missing pgpool ${options.pgpool}: ${pgpool.missing}`);
    return EXIT.missing;
  }
  say(`pgpool: ${pgpool.bin} (${pgpool.label})`);
  if (drillNamespaces().length > 0) {
    say(`removing namespaces left by an earlier run: ${drillNamespaces().join(' ')}`);
    destroyNetwork(say);
  }
  const workdir = mkdtempSync(`/tmp/${NS_PREFIX}`);
  spawnSync('chmod', ['755', workdir]);
  let interrupted = false;
  let child: ReturnType<typeof spawn> | null = null;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    say('interrupted: stopping and cleaning up');
    child?.kill('SIGTERM');
    setTimeout(() => child?.kill('SIGKILL'), 5000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    // A bundle of its own per run: two drills side by side never rewrite each other's agent.
    const built = await buildAgent(join(workdir, 'pgpool-vip.mjs'));
    say(`agent bundle ${built.outfile}`);
    if (interrupted) return EXIT.interrupted;
    say(`latency model: ${latency}${latency === 'moto' ? '' : ` (seed ${latencySeed}; PGVD_LATENCY_SEED repeats it)`}`);
    if (latency === 'aws') say(`switchover function: ${options.provisioned === 0 ? 'no provisioned concurrency (a cold init on every invocation)' : `provisioned concurrency ${options.provisioned} (no cold init while one of them is free)`}`);
    say(`the VIP on pgpool-vip's new leader: ${options.address === 'local' ? 'added by the agent (pgpool keeps CAP_NET_ADMIN)' : 'added by SSM Run Command'}`);
    say('network namespaces: bridge, VPC router, AWS host, app host, backend, pgpool-1..3');
    createNetwork();
    const soak = options.soak;
    const main = soak === null
      ? [join(import.meta.dirname, 'world-main.ts'), workdir, built.outfile, options.pgpool]
      : [join(import.meta.dirname, 'soak', 'soak-main.ts'), workdir, built.outfile, options.pgpool, soak.script, String(soak.sequences), String(soak.seed), soak.out];
    const [file, ...args] = namespaceArgv({ ns: AWS_HOST.ns, argv: [process.execPath, '--import', 'tsx', ...main] });
    if (file === undefined) return EXIT.failed;
    if (interrupted) return EXIT.interrupted;
    // Its own process group: Ctrl-C reaches only this process, which then stops the drill in order.
    const started = spawn(file, args, {
      cwd: join(import.meta.dirname, '..'),
      stdio: 'inherit',
      detached: true,
      // The local controller's EMF metric lines would bury the drill's output.
      env: {
        ...process.env,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        POWERTOOLS_METRICS_DISABLED: 'true',
        PGVD_LATENCY: latency,
        PGVD_ADDRESS: options.address,
        PGVD_PROVISIONED: String(options.provisioned),
        PGVD_LATENCY_SEED: String(latencySeed),
      },
    });
    child = started;
    const code = await new Promise<number>((resolve) => {
      started.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? EXIT.failed : EXIT.interrupted)));
      started.once('error', () => resolve(EXIT.failed));
    });
    if (interrupted) return EXIT.interrupted;
    return code === EXIT.passed ? EXIT.passed : EXIT.failed;
  } finally {
    destroyNetwork();
    if (process.env.PGVD_KEEP_WORKDIR === '1') say(`logs kept in ${workdir}`);
    else rmSync(workdir, { recursive: true, force: true });
    say('namespaces and processes removed');
  }
}

process.exitCode = await main();
