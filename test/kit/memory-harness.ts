import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_SSM_DOCUMENT, MEMBER_TAG_KEY, parseControllerConfig } from '../../lib/cluster-config.ts';
import { DEFAULT_BUS_NAME } from '../../lib/contract.ts';
import type { RequestRecord, VipRecord } from '../../lib/ledger-records.ts';
import { vipCidr } from '../../functions/core/model.ts';
import type { SwitchoverPorts } from '../../functions/core/ports.ts';
import { createSwitchoverHandler, type SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { localContext } from '../../local/controller.ts';
import { DEMO, type World, type WorldInstance } from '../../local/world.ts';
import { MemoryAws, type MemoryInstance } from './memory-aws.ts';

/** Where in-memory proofs are signed for; nothing ever connects to it. */
export const MEMORY_STS_ENDPOINT = 'http://sts.memory.invalid/';

export interface MemoryWorldOptions {
  routeTableCount?: number;
  instanceCount?: number;
  /** Tag instances as cluster members (default all). */
  tagMembers?: boolean;
  vip?: string;
}

/** The demo world of local/world.ts, in memory: one VPC, route tables, member instances, their credentials. */
export interface MemoryWorld extends World {
  aws: MemoryAws;
}

let worldCount = 0;

export function createMemoryWorld(options: MemoryWorldOptions = {}): MemoryWorld {
  const aws = new MemoryAws();
  worldCount += 1;
  const cluster = `m${worldCount}-${DEMO.cluster}`;
  const vpcId = aws.createVpc(DEMO.vpcCidr);
  const routeTableIds = Array.from({ length: options.routeTableCount ?? 1 }, () => aws.createRouteTable(vpcId));
  const instances: WorldInstance[] = [];
  for (let index = 0; index < (options.instanceCount ?? DEMO.nodeSubnets.length); index += 1) {
    const spec = DEMO.nodeSubnets[index % DEMO.nodeSubnets.length];
    const instance = aws.runInstance(vpcId, (options.tagMembers ?? true) ? { [MEMBER_TAG_KEY]: cluster } : {});
    instances.push(worldInstance(aws, instance, index, spec?.privateIp ?? `198.18.${index + 1}.10`, spec?.az ?? 'us-east-1a'));
  }
  return {
    aws,
    region: aws.region,
    accountId: aws.accountId,
    vpcId,
    appSubnetId: 'subnet-memory',
    routeTableIds,
    instances,
    busName: DEFAULT_BUS_NAME,
    requestQueueUrl: '',
    outcomeQueueUrl: '',
    ledgerTable: 'pgpool-vip-ledger',
    documentName: DEFAULT_SSM_DOCUMENT,
    roleName: DEMO.roleName,
    instanceProfile: DEMO.roleName,
    config: {
      clusters: [{ name: cluster, vip: options.vip ?? DEMO.vip, routeTables: routeTableIds, allowedRoles: [DEMO.roleName], interface: DEMO.interface, ssmDocument: DEFAULT_SSM_DOCUMENT }],
    },
  };
}

/** One more instance in the world's AWS (not in `world.instances`), with its instance-profile credentials. */
export function addInstance(world: MemoryWorld, vpcId: string, tags: Record<string, string>): WorldInstance {
  return worldInstance(world.aws, world.aws.runInstance(vpcId, tags), world.instances.length, '198.18.9.10', 'us-east-1a');
}

function worldInstance(aws: MemoryAws, instance: MemoryInstance, index: number, privateIp: string, availabilityZone: string): WorldInstance {
  return {
    name: `pgpool-${index + 1}`,
    instanceId: instance.instanceId,
    eni: instance.eni,
    mac: `0a:00:c6:12:00:${(index + 1).toString(16).padStart(2, '0')}`,
    privateIp,
    subnetId: 'subnet-memory',
    availabilityZone,
    credentials: aws.instanceCredentials(DEMO.roleName, instance.instanceId),
  };
}

/** What a flow test drives, whichever AWS is behind it (this one, or local/harness/controller-harness.ts on moto). */
export interface FlowHarness {
  world: World;
  /** Where proofs are signed for: the controller's own STS endpoint. */
  stsEndpoint: string;
  invoke(event: unknown): Promise<SwitchoverResult>;
  /** VIP/32 target per configured route table (ENI id or null). */
  routeTargets(): Promise<Record<string, string | null>>;
  request(requestId: string): Promise<RequestRecord | null>;
  vip(): Promise<VipRecord | null>;
}

export interface MemoryHarness extends FlowHarness {
  world: MemoryWorld;
  aws: MemoryAws;
  ports: SwitchoverPorts;
}

/**
 * The real switchover handler on in-memory ports: the controller's logic without a socket. A
 * second harness on the same `world` is a second controller on the same AWS.
 */
export function createMemoryHarness(
  options: MemoryWorldOptions & {
    world?: MemoryWorld;
    /** Changes to the world's controller configuration, computed from the world. */
    configure?: (world: MemoryWorld) => Record<string, unknown>;
    /** Ports to use instead of the in-memory ones (a slow or failing one). */
    ports?: (ports: SwitchoverPorts) => Partial<SwitchoverPorts>;
    metrics?: Metrics;
    /** The controller's clock. */
    now?: () => Date;
  } = {},
): MemoryHarness {
  const world = options.world ?? createMemoryWorld(options);
  const { aws } = world;
  const defaults = aws.ports();
  const ports = { ...defaults, ...options.ports?.(defaults) };
  const handler = createSwitchoverHandler({
    config: parseControllerConfig({ ...world.config, ...options.configure?.(world) }),
    accountId: world.accountId,
    region: world.region,
    stsEndpoint: new URL(MEMORY_STS_ENDPOINT),
    ports,
    logger: new Logger({ serviceName: 'pgpool-vip', logLevel: 'SILENT' }),
    metrics: options.metrics ?? new Metrics({ namespace: 'PgpoolVip', serviceName: 'pgpool-vip' }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const cluster = world.config.clusters[0];
  return {
    world,
    aws,
    ports,
    stsEndpoint: MEMORY_STS_ENDPOINT,
    invoke: async (event) => (await handler(event, localContext())),
    routeTargets: () =>
      Promise.resolve(Object.fromEntries(world.routeTableIds.map((id) => [id, aws.routeTables.get(id)?.routes.get(vipCidr(cluster?.vip ?? ''))?.target ?? null]))),
    request: (requestId) => defaults.ledger.readRequest(requestId),
    vip: () => defaults.ledger.readVip(cluster?.name ?? ''),
  };
}
