import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startLocalController } from '../../local/controller.ts';
import { startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { createWorld, type World } from '../../local/world.ts';
import { buildAgentBundle, runAgent, startAgentNode, type AgentNode } from '../../local/agent-node.ts';

// A namespace is the pgpool node: its `eth0` carries the instance's MAC (so the agent finds the
// ENI in IMDS the way it does on EC2) and reaches moto and IMDS over a veth to the host.
const NETNS = `pgvip-t-${process.pid}`;
const HOST_VETH = `pgvh${process.pid}`.slice(0, 15);
const HOST_ADDRESS = '198.18.254.1';
const NODE_ADDRESS = '198.18.254.2';
const VIP = '198.19.0.50';
const SCRIPT = new URL('../../infra/vip-address.sh', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function vipOnNode(): boolean {
  return ip('-n', NETNS, '-4', '-o', 'addr', 'show', 'dev', 'eth0').includes(` inet ${VIP}/32 `);
}

describe.skipIf(!isRoot)('Function: pgpool-vip on a node interface (network namespace; skipped unless root)', () => {
  let moto: MotoServer;
  let clients: AwsClients;
  let bundle: Awaited<ReturnType<typeof buildAgentBundle>>;
  let world: World;
  let node: AgentNode;
  /** Stands in for SSM Run Command, which moto does not execute: runs the real script in the namespace. */
  let emulateSsm = true;
  const stops: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    ip('netns', 'add', NETNS);
    ip('link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS);
    ip('addr', 'add', `${HOST_ADDRESS}/30`, 'dev', HOST_VETH);
    ip('link', 'set', HOST_VETH, 'up');
    ip('-n', NETNS, 'link', 'set', 'lo', 'up');
    [moto, bundle] = await Promise.all([startMotoServer({ host: HOST_ADDRESS }), buildAgentBundle()]);
    clients = motoClients(moto.endpoint);
    world = await createWorld(clients, { prefix: `ai${process.pid}-`, instanceCount: 2 });
    const instance = world.instances[0];
    if (instance === undefined) throw new Error('no instance');
    ip('-n', NETNS, 'link', 'set', 'eth0', 'address', instance.mac);
    ip('-n', NETNS, 'addr', 'add', `${NODE_ADDRESS}/30`, 'dev', 'eth0');
    ip('-n', NETNS, 'link', 'set', 'eth0', 'up');
    node = await startAgentNode(world, 0, {
      awsEndpoint: moto.endpoint,
      dir: bundle.dir,
      imdsHost: HOST_ADDRESS,
      macOverride: false,
      config: { routeTables: world.routeTableIds },
    });
    stops.push(node.imds);
    const controller = startLocalController({
      endpoint: moto.endpoint,
      world,
      onResult: (result) => {
        if (emulateSsm) applySsmCommands(result, instance.instanceId);
      },
    });
    stops.push(controller);
  });

  afterAll(async () => {
    for (const thing of stops.reverse()) await thing.stop();
    if (clients !== undefined) destroyClients(clients);
    await moto?.stop();
    await bundle?.remove();
    execFileSync('ip', ['netns', 'del', NETNS], { stdio: 'ignore' });
    try {
      execFileSync('ip', ['link', 'del', HOST_VETH], { stdio: 'ignore' });
    } catch {
      // gone with the namespace's end of the pair
    }
  });

  function applySsmCommands(result: SwitchoverResult, instanceId: string): void {
    for (const command of result.ssmCommands) {
      if (!command.instanceIds.includes(instanceId)) continue;
      execFileSync('ip', ['netns', 'exec', NETNS, 'sh', SCRIPT, command.purpose, VIP, 'eth0'], { stdio: 'ignore' });
    }
  }

  it('exits 0 on up only once the VIP is on eth0, found through the interface MAC and IMDS', async () => {
    // Prepare
    emulateSsm = true;
    // Act
    const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0'], node.env, { netns: NETNS });
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^pgpool-vip: up ${VIP.replaceAll('.', '\\.')} on eth0 \\(${node.instance.instanceId}, ${node.instance.eni}\\): (applied|noop), request \\S+\\n$`),
    );
    expect(vipOnNode()).toBe(true);
  });

  it('reports the VIP as present on eth0 in status', async () => {
    const run = await runAgent(bundle.bundle, ['status'], node.env, { netns: NETNS });

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout.split('\n')).toContain(`interface eth0: ${VIP} present`);
  });

  it('exits 0 on down once the VIP has left eth0', async () => {
    emulateSsm = true;

    const run = await runAgent(bundle.bundle, ['down', VIP, 'eth0'], node.env, { netns: NETNS });

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(vipOnNode()).toBe(false);
  });

  it('exits 3 at the deadline when the controller answers but the VIP never reaches eth0', async () => {
    emulateSsm = false;
    const shortDeadline = join(bundle.dir, 'short-deadline.json');
    await writeFile(shortDeadline, JSON.stringify({ ...JSON.parse(await readFile(node.configPath, 'utf8')), deadlineSeconds: 5 }));

    const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0', '--config', shortDeadline], node.env, { netns: NETNS });

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^pgpool-vip: timed out after 5 s waiting for 198\.19\.0\.50 to appear on eth0; the controller answered request \S+ \(routes done\); likely cause: the SSM agent on this node is not running or not registered \(pgpool-vip doctor checks it\), or the controller's clusters\[\]\.interface is not eth0\n$/,
    );
    expect(vipOnNode()).toBe(false);
  });
});
