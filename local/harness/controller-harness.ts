import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity } from '@smithy/types';
import { parseControllerConfig } from '../../lib/cluster-config.ts';
import type { RequestRecord, VipRecord } from '../../lib/ledger-records.ts';
import { awsSwitchoverPorts, type SwitchoverClients } from '../../functions/adapters/aws-ports.ts';
import { DynamoLedger } from '../../functions/adapters/ledger.ts';
import { createSwitchoverHandler, type SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { motoClients, type AwsClients } from '../aws-clients.ts';
import { localContext } from '../controller.ts';
import { createWorld, type World, type WorldOptions } from '../world.ts';

export interface Harness {
  clients: AwsClients;
  world: World;
  ledger: DynamoLedger;
  /** Where proofs are signed for: the controller's own STS endpoint. */
  stsEndpoint: string;
  invoke(event: unknown): Promise<SwitchoverResult>;
  /** VIP/32 target per configured route table (ENI id or null). */
  routeTargets(): Promise<Record<string, string | null>>;
  request(requestId: string): Promise<RequestRecord | null>;
  vip(): Promise<VipRecord | null>;
}

let worldCount = 0;

/**
 * A fresh world in a shared moto server and the real switchover handler wired to it, with the
 * real SDK clients. `deps` replaces parts (a client mock for cases moto cannot produce).
 */
export async function createHarness(
  endpoint: string,
  options: WorldOptions & {
    /** Changes to the world's controller configuration, computed from the world. */
    configure?: (world: World) => Record<string, unknown>;
    /** SDK clients to use instead of the moto ones (a client mock for cases moto cannot produce). */
    deps?: Partial<SwitchoverClients>;
    /** The handler's metrics (a fresh silent one by default). */
    metrics?: Metrics;
    /** Use this world instead of creating one. */
    world?: World;
    /** Credentials of the controller's clients (moto IAM keys when auth is on). */
    credentials?: AwsCredentialIdentity;
    /** Where the controller replays proofs (the AWS front door, say); moto by default. */
    stsEndpoint?: string;
    /** Lambda's timeout for each invocation (the local context's 30 s by default). */
    invocationTimeoutMs?: number;
  } = {},
): Promise<Harness> {
  const clients = motoClients(endpoint, options.credentials);
  worldCount += 1;
  const world = options.world ?? (await createWorld(clients, { prefix: `w${worldCount}-${process.pid}-`, ...options }));
  const ledger = new DynamoLedger(clients.dynamodb, world.ledgerTable);
  const handler = createSwitchoverHandler({
    config: parseControllerConfig({ ...world.config, ...options.configure?.(world) }),
    accountId: world.accountId,
    region: world.region,
    stsEndpoint: new URL(options.stsEndpoint ?? endpoint),
    ports: awsSwitchoverPorts(
      { ec2: clients.ec2, ssm: clients.ssm, dynamodb: clients.dynamodb, eventbridge: clients.eventbridge, stsHttp: new NodeHttpHandler(), ...options.deps },
      { ledgerTable: world.ledgerTable, busName: world.busName, stsEndpoint: new URL(options.stsEndpoint ?? endpoint) },
    ),
    logger: new Logger({ serviceName: 'pgpool-vip', logLevel: 'SILENT' }),
    metrics: options.metrics ?? new Metrics({ namespace: 'PgpoolVip', serviceName: 'pgpool-vip' }),
  });
  const cluster = world.config.clusters[0];
  return {
    clients,
    world,
    ledger,
    stsEndpoint: options.stsEndpoint ?? endpoint,
    invoke: async (event) => (await handler(event, localContext(options.invocationTimeoutMs))),
    async routeTargets() {
      const tables = await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: world.routeTableIds }));
      return Object.fromEntries(
        world.routeTableIds.map((id) => {
          const route = tables.RouteTables?.find((table) => table.RouteTableId === id)?.Routes?.find(
            (candidate) => candidate.DestinationCidrBlock === `${cluster?.vip}/32`,
          );
          return [id, route?.NetworkInterfaceId ?? route?.InstanceId ?? null];
        }),
      );
    },
    request: (requestId) => ledger.readRequest(requestId),
    vip: () => ledger.readVip(cluster?.name ?? ''),
  };
}
