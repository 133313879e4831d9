import { execFileSync } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startLocalController } from '../../local/controller.ts';
import { startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { MEMBER_TAG_KEY } from '../../lib/cluster-config.ts';
import { createWorld, type World } from '../../local/world.ts';
import { buildAgentBundle, runAgent, startAgentNode, type AgentNode } from '../../local/agent-node.ts';

// The local fast path on a real interface: a namespace is the pgpool node, its `eth0` carries the
// instance's MAC, and the agent runs as root in it (so it holds CAP_NET_ADMIN, as pgpool does with
// the systemd drop-in). Nothing stands in for SSM here: a VIP on eth0 can only be the agent's.
const NETNS = `pgvip-l-${process.pid}`;
const HOST_VETH = `pgvl${process.pid}`.slice(0, 15);
const HOST_ADDRESS = '198.18.253.1';
const NODE_ADDRESS = '198.18.253.2';
const VIP = '198.19.0.50';
const isRoot = process.getuid?.() === 0;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function vipOnNode(): boolean {
  return ip('-n', NETNS, '-4', '-o', 'addr', 'show', 'dev', 'eth0').includes(` inet ${VIP}/32 `);
}

describe.skipIf(!isRoot)('Function: pgpool-vip up with localAddress on a node interface (network namespace; skipped unless root)', () => {
  let moto: MotoServer;
  let clients: AwsClients;
  let bundle: Awaited<ReturnType<typeof buildAgentBundle>>;
  let world: World;
  let node: AgentNode;
  /** Runs node without CAP_NET_ADMIN (dropped from its bounding set), as pgpool without the drop-in. */
  let withoutNetAdmin: string;
  const results: SwitchoverResult[] = [];
  const stops: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    ip('netns', 'add', NETNS);
    ip('link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS);
    ip('addr', 'add', `${HOST_ADDRESS}/30`, 'dev', HOST_VETH);
    ip('link', 'set', HOST_VETH, 'up');
    ip('-n', NETNS, 'link', 'set', 'lo', 'up');
    [moto, bundle] = await Promise.all([startMotoServer({ host: HOST_ADDRESS }), buildAgentBundle()]);
    clients = motoClients(moto.endpoint);
    world = await createWorld(clients, { prefix: `al${process.pid}-`, instanceCount: 2 });
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
      config: { routeTables: world.routeTableIds, localAddress: true, deadlineSeconds: 20 },
    });
    stops.push(node.imds);
    stops.push(startLocalController({ endpoint: moto.endpoint, world, onResult: (result) => results.push(result) }));
    withoutNetAdmin = join(bundle.dir, 'node-without-net-admin');
    await writeFile(withoutNetAdmin, `#!/bin/sh\nexec setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- ${process.execPath} "$@"\n`);
    await chmod(withoutNetAdmin, 0o755);
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

  beforeEach(() => {
    if (vipOnNode()) ip('-n', NETNS, 'addr', 'del', `${VIP}/32`, 'dev', 'eth0');
    results.length = 0;
  });

  /**
   * The controller's result for the request the agent printed (or named in its refusal). The
   * agent may exit on the ledger's outcome a moment before the local controller hands it over.
   */
  async function resultOf(output: string): Promise<SwitchoverResult | undefined> {
    const requestId = /request ([0-9a-f-]{36})/.exec(output)?.[1];
    for (let tries = 0; tries < 50; tries += 1) {
      const found = results.find((result) => result.requestId === requestId);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return undefined;
  }

  /** Tags the node into another cluster (the controller then rejects it), or back into its own. */
  async function memberTags(action: 'remove' | 'restore'): Promise<void> {
    const instance = node.instance;
    const value = action === 'remove' ? 'another-cluster' : (world.config.clusters[0]?.name ?? '');
    await clients.ec2.send(new CreateTagsCommand({ Resources: [instance.instanceId, instance.eni], Tags: [{ Key: MEMBER_TAG_KEY, Value: value }] }));
  }

  it('puts the VIP on eth0 itself and exits 0, and the controller sends the sender no SSM add', async () => {
    // Act
    const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0'], node.env, { netns: NETNS });
    // Assess
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(vipOnNode()).toBe(true);
    const result = await resultOf(run.stdout);
    expect(result?.outcome).toMatch(/^(applied|noop)$/);
    expect(result?.ssmCommands.filter((command) => command.instanceIds.includes(node.instance.instanceId))).toEqual([]);
    expect(result?.ssmCommands).toEqual([expect.objectContaining({ purpose: 'remove', instanceIds: [world.instances[1]?.instanceId] })]);
  });

  it('removes the VIP it added when the controller rejects the request', async () => {
    await memberTags('remove');
    try {
      const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0'], node.env, { netns: NETNS });

      expect(run.code).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toEqual([
        `pgpool-vip: removed ${VIP} from eth0, which this agent had added`,
        expect.stringMatching(/^pgpool-vip: controller rejected request \S+: /),
      ]);
      expect(await resultOf(run.stderr)).toMatchObject({ outcome: 'rejected', failedStep: 'validate' });
      expect(vipOnNode()).toBe(false);
    } finally {
      await memberTags('restore');
    }
  });

  it('leaves a VIP that was on eth0 before it ran when the controller rejects the request', async () => {
    ip('-n', NETNS, 'addr', 'add', `${VIP}/32`, 'dev', 'eth0');
    await memberTags('remove');
    try {
      const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0'], node.env, { netns: NETNS });

      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^pgpool-vip: controller rejected request \S+: [^\n]*\n$/);
      expect(vipOnNode()).toBe(true);
    } finally {
      await memberTags('restore');
    }
  });

  it('says so and leaves the VIP to SSM when it lacks CAP_NET_ADMIN', async () => {
    const shortDeadline = join(bundle.dir, 'short-deadline.json');
    await writeFile(shortDeadline, JSON.stringify({ ...JSON.parse(await readFile(node.configPath, 'utf8')), deadlineSeconds: 5 }));

    const run = await runAgent(bundle.bundle, ['up', VIP, 'eth0', '--config', shortDeadline], node.env, { netns: NETNS, node: withoutNetAdmin });

    // Nothing plays SSM here, so the VIP never arrives: what matters is who was asked to add it.
    expect(run.code).toBe(3);
    expect(run.stderr.split('\n')[0]).toBe(
      `pgpool-vip: localAddress is on but this process lacks CAP_NET_ADMIN (CapEff in /proc/self/status): SSM adds ${VIP} instead`,
    );
    expect(vipOnNode()).toBe(false);
    expect((await resultOf(run.stderr))?.ssmCommands).toContainEqual(expect.objectContaining({ purpose: 'add', instanceIds: [node.instance.instanceId] }));
  });
});
