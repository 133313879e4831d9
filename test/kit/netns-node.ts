import { execFileSync } from 'node:child_process';
import { buildAgentBundle, startAgentNode, type AgentNode } from '../../local/agent-node.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { createWorld, type World } from '../../local/world.ts';

export const isRoot = process.getuid?.() === 0;

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/**
 * A pgpool node as a network namespace: its `eth0` carries the instance's MAC (so the agent finds
 * the ENI in IMDS the way it does on EC2) and reaches its own moto_server and IMDS over a veth to
 * the host. Root only.
 */
export interface NetnsNode {
  netns: string;
  moto: MotoServer;
  clients: AwsClients;
  bundle: Awaited<ReturnType<typeof buildAgentBundle>>;
  world: World;
  node: AgentNode;
  /** Stopped in reverse order by `stop`. */
  stops: Array<{ stop(): Promise<void> }>;
  vipOnNode(vip: string): boolean;
  stop(): Promise<void>;
}

export async function startNetnsNode(options: {
  /** A letter or two that keeps this file's namespace and veth apart from other files'. */
  tag: string;
  hostAddress: string;
  nodeAddress: string;
  config: Record<string, unknown>;
}): Promise<NetnsNode> {
  const netns = `pgvip-${options.tag}-${process.pid}`;
  const hostVeth = `pgv${options.tag}${process.pid}`.slice(0, 15);
  const stops: NetnsNode['stops'] = [];
  // What is started so far: a setup that fails half-way is still cleaned up by `stop`.
  const started: { moto?: MotoServer; clients?: AwsClients; bundle?: NetnsNode['bundle'] } = {};
  const stop = async (): Promise<void> => {
    for (const thing of stops.reverse()) await thing.stop();
    if (started.clients !== undefined) destroyClients(started.clients);
    await started.moto?.stop();
    await started.bundle?.remove();
    execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    try {
      execFileSync('ip', ['link', 'del', hostVeth], { stdio: 'ignore' });
    } catch {
      // gone with the namespace's end of the pair
    }
  };
  ip('netns', 'add', netns);
  ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
  ip('addr', 'add', `${options.hostAddress}/30`, 'dev', hostVeth);
  ip('link', 'set', hostVeth, 'up');
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  const [moto, bundle] = await Promise.all([startMotoServer({ host: options.hostAddress }), buildAgentBundle()]);
  const clients = motoClients(moto.endpoint);
  Object.assign(started, { moto, bundle, clients });
  const world = await createWorld(clients, { prefix: `${options.tag}${process.pid}-`, instanceCount: 2 });
  const instance = world.instances[0];
  if (instance === undefined) throw new Error('no instance');
  ip('-n', netns, 'link', 'set', 'eth0', 'address', instance.mac);
  ip('-n', netns, 'addr', 'add', `${options.nodeAddress}/30`, 'dev', 'eth0');
  ip('-n', netns, 'link', 'set', 'eth0', 'up');
  const node = await startAgentNode(world, 0, {
    awsEndpoint: moto.endpoint,
    dir: bundle.dir,
    imdsHost: options.hostAddress,
    macOverride: false,
    config: { routeTables: world.routeTableIds, ...options.config },
  });
  stops.push(node.imds);
  return {
    netns,
    moto,
    clients,
    bundle,
    world,
    node,
    stops,
    vipOnNode: (vip) => ip('-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0').includes(` inet ${vip}/32 `),
    stop,
  };
}
