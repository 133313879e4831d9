// `npm start`: a whole switchover story on this machine, with moto_server standing in for AWS.
// The agent is the real bundled command; the controller is the real Lambda handler.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import type { AuditEntry } from '../functions/core/switchover-outcome.ts';
import { AGENT_CACHE, cachedAgentBundle } from './agent-bundle-cache.ts';
import { motoClients, type AwsClients } from './aws-clients.ts';
import { finished } from './child-output.ts';
import { createLocalController, requestEnvelope } from './controller.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from './front-door/front-door.ts';
import { startImdsServer, type ImdsServer } from './imds-server.ts';
import { MOTO_INSTALL_HINT, MotoUnavailableError, startMotoServer } from './moto-server.ts';
import { MOTO_ENDPOINT_ENV, runningMotoEndpoint } from './running-moto.ts';
import { putRequestEvent, signedDetail } from './requests.ts';
import { cachedPackage, PACKAGE_CACHE } from './packaged-service.ts';
import { createWorld, DEMO, type World, type WorldInstance } from './world.ts';
import { WORLD_STAGE } from './world-stack.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** A moto_server the story uses; `stop` ends it only when the story started it. */
interface StoryMoto {
  endpoint: string;
  /** How the story's first line names it. */
  description: string;
  /**
   * Starts the world's names: none in a server of the story's own, the process's id in one that
   * others use too, so that two stories (or a story and tests) never share a stack or a table.
   */
  prefix: string;
  stop(): Promise<void>;
}

/** The running moto_server named by MOTO_ENDPOINT_ENV (it must answer), else one of the story's own; null after saying why neither. */
async function storyMoto(): Promise<StoryMoto | null> {
  const named = process.env[MOTO_ENDPOINT_ENV];
  if (named !== undefined && named !== '') {
    const parsed = runningMotoEndpoint(named);
    if ('error' in parsed) {
      process.stderr.write(`pgpool-vip demo: ${parsed.error}\n`);
      return null;
    }
    try {
      await fetch(parsed.endpoint, { signal: AbortSignal.timeout(5000) }).then((answer) => answer.body?.cancel());
    } catch (error) {
      process.stderr.write(`pgpool-vip demo: ${MOTO_ENDPOINT_ENV}: nothing answers at ${parsed.endpoint} (${(error as Error).message}); start moto_server there, or unset it to start one\n`);
      return null;
    }
    return { endpoint: parsed.endpoint, description: `already running (${MOTO_ENDPOINT_ENV})`, prefix: `story${process.pid}-`, stop: () => Promise.resolve() };
  }
  try {
    const moto = await startMotoServer();
    return { endpoint: moto.endpoint, description: `pid ${moto.pid}`, prefix: '', stop: () => moto.stop() };
  } catch (error) {
    if (error instanceof MotoUnavailableError) {
      process.stderr.write(`pgpool-vip demo: ${MOTO_INSTALL_HINT}\n`);
      return null;
    }
    throw error;
  }
}

interface Stage {
  moto: StoryMoto;
  /** Where the agents and the crafted requests put events: moto behind the front door, which hands each request event to the controller. */
  door: AwsFrontDoor;
  clients: AwsClients;
  world: World;
  imds: ImdsServer[];
  agent: string;
  workdir: string;
  audits: AuditEntry[];
}

async function main(): Promise<number> {
  const moto = await storyMoto();
  if (moto === null) return 2;
  const workdir = mkdtempSync(join(tmpdir(), 'pgpool-vip-demo-'));
  const imds: ImdsServer[] = [];
  const clients = motoClients(moto.endpoint);
  let controller: ReturnType<typeof createLocalController> | null = null;
  let door: AwsFrontDoor | null = null;
  let removeBundle = (): void => undefined;
  try {
    out(`moto_server (AWS stand-in) on ${moto.endpoint}, ${moto.description}`);
    const bundled = await cachedAgentBundle();
    removeBundle = bundled.remove;
    const agent = bundled.bundle;
    out(`agent bundled: ${agent}${bundled.cached ? '' : ` (built now; kept in ${relative(process.cwd(), AGENT_CACHE)} until its inputs change)`}`);
    if (cachedPackage(WORLD_STAGE) === undefined) {
      out(`packaging the service first (serverless package; kept in ${relative(process.cwd(), PACKAGE_CACHE)} until its inputs change)`);
    }
    const world = await createWorld(clients, { prefix: moto.prefix });
    out(`stack from the packaged template: bus ${world.busName}, ledger ${world.ledgerTable}, SSM document ${world.documentName}, node role ${world.roleName}`);
    out(`demo world: ${world.vpcId} (${DEMO.vpcCidr}), VIP ${DEMO.vip}, route table ${world.routeTableIds.join(', ')}`);
    for (const instance of world.instances) {
      out(`  ${shown(moto, instance.name)}  ${instance.instanceId}  ${instance.eni}  ${instance.privateIp}  ${instance.availabilityZone}`);
      imds.push(
        await startImdsServer({ instance, region: world.region, roleName: world.roleName, accountId: world.accountId, vpcId: world.vpcId }),
      );
    }
    const audits: AuditEntry[] = [];
    const pushed = createLocalController({ endpoint: moto.endpoint, world, delivery: 'push', onResult: (entry) => audits.push(entry) });
    controller = pushed;
    door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
    door.onAcceptedEvents((events, acceptedAt) => {
      for (const event of events) {
        const envelope = requestEnvelope(world, event, acceptedAt);
        if (envelope !== null) pushed.deliver(envelope, acceptedAt);
      }
    });
    out('controller: the switchover Lambda handler, handed each request event by a local front door the moment');
    out('            the bus accepted it: moto cannot invoke a Lambda target; in AWS the bus\'s rule invokes the function directly');
    out('note: moto\'s SSM runs no command, so no VIP lands on a real interface here; the agent runs with');
    out('      --no-interface-check and says so. `sudo npm run drill` does it for real with pgpool2 in namespaces.');
    const stage: Stage = { moto, door, clients, world, imds, agent, workdir, audits };
    const [node1, node2, node3] = world.instances as [WorldInstance, WorldInstance, WorldInstance];

    await step(stage, '1. pgpool-1 is elected leader: its if_up_cmd runs the agent', () => runAgent(stage, 0, 'up'));
    await step(stage, '2. planned switchover, part 1: pgpool-1 stops cleanly and runs if_down_cmd', () => runAgent(stage, 0, 'down'));
    out('   the route stays on pgpool-1 on purpose: the controller never deletes it (a late down must not take');
    out('   the VIP from a new leader); the VIP left pgpool-1\'s interface and the next up moves the route');
    const beforeStep3 = new Date();
    await step(stage, '3. planned switchover, part 2: pgpool-2 is elected and runs if_up_cmd', () => runAgent(stage, 1, 'up'));
    await step(stage, "4. a late if_down_cmd from pgpool-1 arrives after pgpool-2's up (isolation)", () => runAgent(stage, 0, 'down'));
    await step(stage, "5. a delayed up from pgpool-1, issued before pgpool-2's (crafted with the agent's signing code)", () =>
      putCrafted(stage, node1, { action: 'up', issuedAt: new Date(beforeStep3.getTime() - 1000) }),
    );
    await step(stage, '6. a forged request: pgpool-3 signs with its own role but claims to be pgpool-1', () =>
      putCrafted(stage, { ...node3, instanceId: node1.instanceId, eni: node1.eni, credentials: node3.credentials }, { action: 'up' }),
    );
    out();
    const targets = await routeTargets(stage);
    if (targets.every((target) => target === node2.eni)) {
      out(`route stayed on ${shown(moto, node2.name)} (${node2.eni}) through the late down, the delayed up and the forgery.`);
      return 0;
    }
    out(`UNEXPECTED: the VIP route points at ${targets.join(', ')}, not at ${shown(moto, node2.name)} (${node2.eni})`);
    return 1;
  } finally {
    door?.onAcceptedEvents(null);
    await controller?.stop();
    await door?.stop();
    await Promise.all(imds.map((server) => server.stop()));
    await moto.stop();
    removeBundle();
    rmSync(workdir, { recursive: true, force: true });
  }
}

/** An instance's name as the story tells it: pgpool-1, whatever the world's names start with. */
function shown(moto: StoryMoto, name: string): string {
  return name.startsWith(moto.prefix) ? name.slice(moto.prefix.length) : name;
}

async function step(stage: Stage, title: string, act: () => Promise<string>): Promise<void> {
  out();
  out(`── ${title}`);
  const seen = stage.audits.length;
  const said = await act();
  if (said !== '') out(said);
  const deadline = Date.now() + 10_000;
  while (stage.audits.length === seen && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const entry of stage.audits.slice(seen)) printAudit(stage, entry);
  await printRoutes(stage);
}

/** Runs the bundled agent as pgpool would, with the instance's own IMDS and no AWS keys. */
async function runAgent(stage: Stage, index: number, action: 'up' | 'down'): Promise<string> {
  const instance = stage.world.instances[index] as WorldInstance;
  const config = join(stage.workdir, `agent-${index + 1}.json`);
  writeFileSync(
    config,
    JSON.stringify({ cluster: stage.world.config.clusters[0]?.name, vip: DEMO.vip, bus: stage.world.busName, ledgerTable: stage.world.ledgerTable, deadlineSeconds: 20 }),
  );
  const argv = [stage.agent, action, DEMO.vip, DEMO.interface, '--no-interface-check'];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: stage.workdir,
    AWS_ENDPOINT_URL: stage.moto.endpoint,
    // The request goes on the bus through the front door, which hands it to the controller.
    AWS_ENDPOINT_URL_EVENTBRIDGE: stage.door.endpoint,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: stage.imds[index]?.endpoint,
    PGPOOL_VIP_AGENT_CONFIG: config,
    PGPOOL_VIP_INTERFACE_MAC: instance.mac,
  };
  const started = Date.now();
  const { status: code, stdout, stderr } = await finished(spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = [`   $ pgpool-vip ${argv.slice(1).join(' ')}   (on ${shown(stage.moto, instance.name)}, as pgpool runs it)`];
  for (const line of `${stdout}${stderr}`.trim().split('\n').filter(Boolean)) lines.push(`   ${line}`);
  lines.push(`   exit ${code} after ${Date.now() - started} ms`);
  return lines.join('\n');
}

/** Puts a request made with the agent's own signing code straight on the bus. */
async function putCrafted(
  stage: Stage,
  instance: WorldInstance,
  options: { action: 'up' | 'down'; issuedAt?: Date },
): Promise<string> {
  const detail = await signedDetail(stage.world, instance, { ...options, stsEndpoint: stage.moto.endpoint });
  await putRequestEvent(stage.door.endpoint, stage.world.busName, detail);
  return `   put on the bus: ${options.action} for ${detail.instanceId}, issued ${detail.issuedAt}`;
}

function printAudit(stage: Stage, entry: AuditEntry): void {
  const name = (id: string | null): string => {
    const instance = stage.world.instances.find((candidate) => candidate.instanceId === id);
    return instance === undefined ? (id ?? 'none') : shown(stage.moto, instance.name);
  };
  out(`   controller: ${entry.outcome.toUpperCase()}${entry.reason ? ` (${entry.reason})` : ''}`);
  // A request refused before the ledger was read has no holder to show.
  const holder =
    entry.holderBefore === null && entry.holderAfter === null && entry.outcome === 'rejected'
      ? `not read (refused at ${entry.failedStep ?? 'an early step'}, before the ledger)`
      : `${name(entry.holderBefore)} -> ${name(entry.holderAfter)}`;
  out(`   holder: ${holder}; ${entry.totalMs} ms; ssm: ${entry.ssmCommands.map((command) => `${command.purpose} ${command.instanceIds.map(name).join('+')}`).join(', ') || 'none'}`);
  const { routes, ssmCommands: _ssm, ...rest } = entry;
  out(
    `   audit (shortened: routes as text, ssmCommands left out; the function logs the whole JSON line, docs/audit.md): ${JSON.stringify({ ...rest, routes: routes.map((route) => `${route.routeTableId}: ${route.before ?? 'none'} -> ${route.after ?? 'none'} (${route.change})`) })}`,
  );
}

async function routeTargets(stage: Stage): Promise<Array<string | null>> {
  const tables = await stage.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: stage.world.routeTableIds }));
  return (tables.RouteTables ?? []).map(
    (table) => table.Routes?.find((route) => route.DestinationCidrBlock === `${DEMO.vip}/32`)?.NetworkInterfaceId ?? null,
  );
}

async function printRoutes(stage: Stage): Promise<void> {
  const tables = await stage.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: stage.world.routeTableIds }));
  for (const table of tables.RouteTables ?? []) {
    const route = table.Routes?.find((candidate) => candidate.DestinationCidrBlock === `${DEMO.vip}/32`);
    const owner = stage.world.instances.find((instance) => instance.eni === route?.NetworkInterfaceId);
    out(`   route table ${table.RouteTableId}: ${DEMO.vip}/32 -> ${route ? `${route.NetworkInterfaceId} (${owner === undefined ? 'unknown' : shown(stage.moto, owner.name)}) ${route.State}` : 'no route'}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`pgpool-vip demo: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
