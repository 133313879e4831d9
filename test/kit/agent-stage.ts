import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, type TestContext } from 'vitest';
import { startAgentNode, type AgentNode, type NodeOptions } from '../../local/agent-node.ts';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import type { LocalController } from '../../local/controller.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { createWorld, type World, type WorldOptions } from '../../local/world.ts';
import { agentBundle, type AgentBundle } from './agent-bundle.ts';
import { sharedMoto } from './moto.ts';
import { requestPush, type RequestPush } from './request-push.ts';

/**
 * The host's loopback stands in for a node's eth0 (tests never add addresses outside namespaces
 * they create): the controller is told the cluster interface is `lo`.
 */
export const LOOPBACK = 'lo';

/**
 * The agent's own default: its first second of reads comes every 50 ms whatever this is (most
 * answers come then), and a wait the tests sit out (a deadline) reads the ledger 4 times a second,
 * not 10, each read a moto call.
 */
export const AGENT_POLL_INTERVAL_MS = 250;

/** Where the bundled agent meets the run's moto: worlds, local controllers and nodes, all stopped after the file. */
export interface AgentStage {
  readonly endpoint: string;
  readonly clients: AwsClients;
  readonly bundle: AgentBundle;
  /**
   * EventBridge as the stage's nodes reach it: a front door before moto that hands each request
   * the bus accepted to the controller of its world (see controller()).
   */
  readonly eventsEndpoint: string;
  /** Stopped in reverse order after the file's tests. */
  readonly started: Array<{ stop(): Promise<void> }>;
  /** A fresh world with two nodes, its names apart from every other world in the run. */
  world(options?: WorldOptions): Promise<World>;
  /**
   * The local controller of `world`, its cluster interface the loopback, handed each request the
   * moment the bus accepted it (no queue poll). Given the context of the test that starts it, it
   * stops when that test ends, else after the file.
   */
  controller(world: World, test?: Pick<TestContext, 'onTestFinished'>): LocalController;
  /** A node of `world`; unless `awsEndpoint` is given, its PutEvents pass eventsEndpoint. */
  node(world: World, index: number, options?: Partial<NodeOptions>): Promise<AgentNode>;
  /** Where the first table's VIP route points (ENI id), or null. */
  routeTarget(world: World): Promise<string | null>;
}

/** Registers the stage's set-up and clean-up for the calling test file. */
export function useAgentStage(tag: string): AgentStage {
  let endpoint = '';
  let clients: AwsClients | undefined;
  let bundle: AgentBundle | undefined;
  let door: AwsFrontDoor | undefined;
  let push: RequestPush | undefined;
  const started: AgentStage['started'] = [];
  let worlds = 0;
  beforeAll(async () => {
    endpoint = sharedMoto().endpoint;
    [bundle, door] = await Promise.all([agentBundle(), startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: endpoint })]);
    push = requestPush(door);
    clients = motoClients(endpoint);
  });
  afterAll(async () => {
    for (const thing of started.reverse()) await thing.stop();
    if (clients !== undefined) destroyClients(clients);
    await door?.stop();
    await bundle?.remove();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the agent stage is used before its beforeAll ran');
    return value;
  };
  const stage: AgentStage = {
    get endpoint() {
      return endpoint;
    },
    get clients() {
      return ready(clients);
    },
    get bundle() {
      return ready(bundle);
    },
    get eventsEndpoint() {
      return ready(door).endpoint;
    },
    started,
    async world(options = {}) {
      worlds += 1;
      return await createWorld(stage.clients, { prefix: `${tag}${worlds}-${process.pid}-`, instanceCount: 2, ...options });
    },
    controller(world, test) {
      const cluster = world.config.clusters[0];
      const controller = ready(push).controller({ endpoint, world, configOverrides: { clusters: [{ ...cluster, interface: LOOPBACK }] } });
      if (test === undefined) started.push(controller);
      else test.onTestFinished(() => controller.stop());
      return controller;
    },
    async node(world, index, options = {}) {
      const events: Record<string, string> = options.awsEndpoint === undefined ? { AWS_ENDPOINT_URL_EVENTBRIDGE: stage.eventsEndpoint } : {};
      const node = await startAgentNode(world, index, {
        awsEndpoint: endpoint,
        dir: stage.bundle.dir,
        ...options,
        config: { pollIntervalMs: AGENT_POLL_INTERVAL_MS, ...options.config },
        extraEnv: { ...events, ...options.extraEnv },
      });
      started.push(node.imds);
      return node;
    },
    async routeTarget(world) {
      const tables = await stage.clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: world.routeTableIds }));
      const vip = world.config.clusters[0]?.vip;
      return tables.RouteTables?.[0]?.Routes?.find((route) => route.DestinationCidrBlock === `${vip}/32`)?.NetworkInterfaceId ?? null;
    },
  };
  return stage;
}
