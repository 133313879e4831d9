import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { startAgentNode, type AgentNode } from '../../local/agent-node.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import type { LocalController, LocalControllerOptions } from '../../local/controller.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { createWorld, type World } from '../../local/world.ts';
import { agentBundle, type AgentBundle } from './agent-bundle.ts';
import { AGENT_POLL_INTERVAL_MS } from './agent-stage.ts';
import { sharedMoto } from './moto.ts';
import { requestPush, type RequestPush } from './request-push.ts';

export const isRoot = process.getuid?.() === 0;

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/**
 * A pgpool node as a network namespace: its `eth0` carries the instance's MAC (so the agent finds
 * the ENI in IMDS the way it does on EC2) and reaches the run's moto_server and its IMDS over a
 * veth to the host. Root only.
 */
export interface NetnsNode {
  netns: string;
  /**
   * The run's moto_server as the namespace reaches it: relayHost to a front door before moto,
   * which hands each request the bus accepted to the node's controller (controller()).
   */
  moto: MotoRelay;
  clients: AwsClients;
  bundle: AgentBundle;
  world: World;
  node: AgentNode;
  /** Stopped in reverse order by `stop`. */
  stops: Array<{ stop(): Promise<void> }>;
  /**
   * The local controller of the node's world, handed each request the moment the bus accepted it
   * (no queue poll); stopped with the node.
   */
  controller(options?: Omit<LocalControllerOptions, 'endpoint' | 'world' | 'delivery'>): LocalController;
  vipOnNode(vip: string): boolean;
  stop(): Promise<void>;
}

/** Where the test kit's node links take their /30s: inside 198.18.0.0/15, apart from the drill's. */
const LINK_POOL = { base: (198 << 24) | (18 << 16) | (128 << 8), slots: 4096 };
const dotted = (address: number): string => [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join('.');

/**
 * A /30 no interface of this machine uses yet, picked at random: two copies of the suite at once
 * (or a namespace a killed run left behind) must not answer for this run's IMDS or moto.
 */
export function freeLink(): { hostAddress: string; nodeAddress: string } {
  const used = ip('-4', '-o', 'addr', 'show');
  for (let attempt = 0; attempt < 64; attempt += 1) {
    const base = LINK_POOL.base + randomInt(0, LINK_POOL.slots) * 4;
    const link = { hostAddress: dotted(base + 1), nodeAddress: dotted(base + 2) };
    if (!used.includes(` ${link.hostAddress}/`) && !used.includes(` ${link.nodeAddress}/`)) return link;
  }
  throw new Error('no free /30 for a test node in 198.18.128.0/18');
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Removes the namespaces (and host veths) this kit started in runs whose process is gone: a test
 * run killed half-way leaves them, and they are named by that run's pid.
 */
export function removeOrphanedNodes(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const match = /^pgvip-([a-z]{1,2})-(\d+)\b/.exec(line);
    if (match === null || alive(Number(match[2]))) continue;
    const [netns, tag, pid] = [`pgvip-${match[1]}-${match[2]}`, match[1], match[2]];
    for (const args of [['netns', 'del', netns], ['link', 'del', `pgv${tag}${pid}`.slice(0, 15)]]) {
      try {
        execFileSync('ip', args, { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

export interface MotoRelay {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * The run's moto_server on the host end of a node's veth: moto listens on loopback only, which a
 * namespace cannot reach, and a moto_server of the node's own would pay its first calls again.
 * Every byte is passed on unchanged, both ways.
 */
export async function relayHost(host: string, motoEndpoint: string): Promise<MotoRelay> {
  const target = new URL(motoEndpoint);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${port}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export async function startNetnsNode(options: {
  /** A letter or two that keeps this file's namespace and veth apart from other files'. */
  tag: string;
  config: Record<string, unknown>;
}): Promise<NetnsNode> {
  removeOrphanedNodes();
  const { hostAddress, nodeAddress } = freeLink();
  const netns = `pgvip-${options.tag}-${process.pid}`;
  const hostVeth = `pgv${options.tag}${process.pid}`.slice(0, 15);
  const stops: NetnsNode['stops'] = [];
  // What is started so far: a setup that fails half-way is still cleaned up by `stop`.
  const started: { moto?: MotoRelay; door?: AwsFrontDoor; clients?: AwsClients; bundle?: NetnsNode['bundle'] } = {};
  const stop = async (): Promise<void> => {
    for (const thing of stops.reverse()) await thing.stop();
    if (started.clients !== undefined) destroyClients(started.clients);
    await started.moto?.stop();
    await started.door?.stop();
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
  ip('addr', 'add', `${hostAddress}/30`, 'dev', hostVeth);
  ip('link', 'set', hostVeth, 'up');
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  const [door, bundle] = await Promise.all([startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: sharedMoto().endpoint }), agentBundle()]);
  started.door = door;
  const push: RequestPush = requestPush(door);
  const moto = await relayHost(hostAddress, door.endpoint);
  const clients = motoClients(moto.endpoint);
  Object.assign(started, { moto, bundle, clients });
  const world = await createWorld(clients, { prefix: `${options.tag}${process.pid}-`, instanceCount: 2 });
  const instance = world.instances[0];
  if (instance === undefined) throw new Error('no instance');
  ip('-n', netns, 'link', 'set', 'eth0', 'address', instance.mac);
  ip('-n', netns, 'addr', 'add', `${nodeAddress}/30`, 'dev', 'eth0');
  ip('-n', netns, 'link', 'set', 'eth0', 'up');
  const node = await startAgentNode(world, 0, {
    awsEndpoint: moto.endpoint,
    dir: bundle.dir,
    imdsHost: hostAddress,
    macOverride: false,
    config: { routeTables: world.routeTableIds, pollIntervalMs: AGENT_POLL_INTERVAL_MS, ...options.config },
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
    controller(options = {}) {
      // Its endpoint is the one the node signs its proofs for: the controller replays them there.
      const controller = push.controller({ ...options, endpoint: moto.endpoint, world });
      stops.push(controller);
      return controller;
    },
    vipOnNode: (vip) => ip('-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0').includes(` inet ${vip}/32 `),
    stop,
  };
}
