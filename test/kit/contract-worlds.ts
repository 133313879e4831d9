import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { CreateRouteCommand, DeleteRouteCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { OutcomeDetail } from '../../lib/contract.ts';
import { MEMBER_TAG_KEY } from '../../lib/cluster-config.ts';
import { LEDGER_HISTORY_INDEX } from '../../lib/ledger-records.ts';
import { vipCidr } from '../../functions/core/model.ts';
import type { SwitchoverPorts } from '../../functions/core/ports.ts';
import { awsSwitchoverPorts } from '../../functions/adapters/aws-ports.ts';
import { motoClients } from '../../local/aws-clients.ts';
import { createWorld, DEMO, type World } from '../../local/world.ts';
import { createMemoryWorld, MEMORY_STS_ENDPOINT } from './memory-harness.ts';
import { sharedMoto } from './moto.ts';

/**
 * One AWS as the contract suite sees it: the ports, and what a spec arranges around them (things
 * other people do: a route created by another tool, an instance stopped). Both kinds are built
 * with the same shape, so every spec runs unchanged on the in-memory ports and on the AWS
 * adapters against moto.
 */
export interface ContractWorld {
  ports: SwitchoverPorts;
  vpcId: string;
  vpcCidr: string;
  /** Fresh route tables of the VPC; each spec takes its own with `nextTable()`. */
  nextTable(): string;
  /** Tagged members, running. */
  members: Array<{ instanceId: string; eni: string; credentials: AwsCredentialIdentity }>;
  memberTag: { key: string; value: string };
  roleName: string;
  region: string;
  stsEndpoint: string;
  /** A route someone else created to an instance id, not an ENI. */
  routeToInstance(routeTableId: string, vip: string, instanceId: string): Promise<void>;
  deleteRoute(routeTableId: string, vip: string): Promise<void>;
  stop(instanceId: string): Promise<void>;
  /** Outcome events the bus delivered since the last call. */
  deliveredOutcomes(): Promise<OutcomeDetail[]>;
  /** The request ids the ledger's history index (the audit's) lists for a cluster. */
  history(cluster: string): Promise<string[]>;
}

const TABLES = 12;

/** What both kinds of world read the same way from the demo world's shape. */
function shared(world: World, stsEndpoint: string): Pick<ContractWorld, 'vpcId' | 'vpcCidr' | 'nextTable' | 'members' | 'memberTag' | 'roleName' | 'region' | 'stsEndpoint'> {
  let tables = 0;
  return {
    vpcId: world.vpcId,
    vpcCidr: DEMO.vpcCidr,
    nextTable: () => tableAt(world.routeTableIds, tables++),
    members: world.instances,
    memberTag: { key: MEMBER_TAG_KEY, value: world.config.clusters[0]?.name ?? '' },
    roleName: world.roleName,
    region: world.region,
    stsEndpoint,
  };
}

export function memoryContractWorld(): Promise<ContractWorld> {
  const world = createMemoryWorld({ routeTableCount: TABLES });
  const { aws } = world;
  let delivered = 0;
  return Promise.resolve({
    ...shared(world, MEMORY_STS_ENDPOINT),
    ports: aws.ports(),
    routeToInstance: (routeTableId, vip, instanceId) => Promise.resolve(aws.putRoute(routeTableId, vipCidr(vip), `instance:${instanceId}`)),
    deleteRoute: (routeTableId, vip) => Promise.resolve(aws.deleteRoute(routeTableId, vipCidr(vip))),
    stop: (instanceId) => {
      const instance = aws.instances.get(instanceId);
      if (instance !== undefined) instance.state = 'stopped';
      return Promise.resolve();
    },
    deliveredOutcomes: () => {
      const fresh = aws.outcomes.slice(delivered);
      delivered = aws.outcomes.length;
      return Promise.resolve(fresh);
    },
    history: (cluster) => Promise.resolve(aws.history(cluster).map((record) => record.requestId)),
  });
}

let motoWorlds = 0;

export async function motoContractWorld(): Promise<ContractWorld> {
  const { endpoint } = sharedMoto();
  const clients = motoClients(endpoint);
  motoWorlds += 1;
  const world = await createWorld(clients, { prefix: `contract${motoWorlds}-${process.pid}-`, routeTableCount: TABLES });
  return {
    ...shared(world, endpoint),
    ports: awsSwitchoverPorts(
      { ...clients, stsHttp: new NodeHttpHandler() },
      { ledgerTable: world.ledgerTable, busName: world.busName, stsEndpoint: new URL(endpoint) },
    ),
    routeToInstance: async (routeTableId, vip, instanceId) => {
      await clients.ec2.send(new CreateRouteCommand({ RouteTableId: routeTableId, DestinationCidrBlock: vipCidr(vip), InstanceId: instanceId }));
    },
    deleteRoute: async (routeTableId, vip) => {
      await clients.ec2.send(new DeleteRouteCommand({ RouteTableId: routeTableId, DestinationCidrBlock: vipCidr(vip) }));
    },
    stop: async (instanceId) => {
      await clients.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    },
    deliveredOutcomes: async () => {
      const received = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.outcomeQueueUrl, MaxNumberOfMessages: 10 }));
      return (received.Messages ?? []).map((message) => (JSON.parse(message.Body ?? '{}') as { detail: OutcomeDetail }).detail);
    },
    history: async (cluster) => {
      const answer = await clients.dynamodb.send(
        new QueryCommand({
          TableName: world.ledgerTable,
          IndexName: LEDGER_HISTORY_INDEX,
          KeyConditionExpression: '#cluster = :cluster',
          ExpressionAttributeNames: { '#cluster': 'cluster' },
          ExpressionAttributeValues: { ':cluster': { S: cluster } },
          ScanIndexForward: false,
        }),
      );
      return (answer.Items ?? []).map((item) => item.requestId?.S ?? '');
    },
  };
}

function tableAt(ids: string[], index: number): string {
  const id = ids[index];
  if (id === undefined) throw new Error(`the contract world has ${ids.length} route tables; a spec asked for one more`);
  return id;
}
