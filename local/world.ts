import {
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import { MEMBER_TAG_KEY, type ControllerConfigInput } from '../lib/cluster-config.ts';
import { MOTO_ACCOUNT_ID, MOTO_REGION, type AwsClients } from './aws-clients.ts';
import { deployWorldStack, required } from './world-stack.ts';

/** Addresses of the demo world: 198.18.0.0/15 only (VPC 198.18.0.0/16, VIP outside it). */
export const DEMO = {
  cluster: 'demo',
  vip: '198.19.0.50',
  vpcCidr: '198.18.0.0/16',
  appSubnetCidr: '198.18.0.0/24',
  nodeSubnets: [
    { cidr: '198.18.1.0/24', az: 'us-east-1a', privateIp: '198.18.1.10' },
    { cidr: '198.18.2.0/24', az: 'us-east-1b', privateIp: '198.18.2.10' },
    { cidr: '198.18.3.0/24', az: 'us-east-1c', privateIp: '198.18.3.10' },
  ],
  roleName: 'pgpool-vip-node',
  interface: 'eth0',
} as const;

export interface WorldInstance {
  name: string;
  instanceId: string;
  eni: string;
  mac: string;
  privateIp: string;
  subnetId: string;
  availabilityZone: string;
  /** Instance-role credentials, as IMDS would hand them out: session name = instance id. */
  credentials: AwsCredentialIdentity;
}

export interface World {
  region: string;
  accountId: string;
  vpcId: string;
  appSubnetId: string;
  routeTableIds: string[];
  instances: WorldInstance[];
  busName: string;
  requestQueueUrl: string;
  outcomeQueueUrl: string;
  ledgerTable: string;
  documentName: string;
  roleName: string;
  /** The stack's instance profile the member instances run with (its role is roleName). */
  instanceProfile: string;
  /** The controller's cluster configuration for this world. */
  config: ControllerConfigInput;
}

export interface WorldOptions {
  /** Prefix for names, so several worlds can share one moto server. */
  prefix?: string;
  routeTableCount?: number;
  instanceCount?: number;
  /** Tag instances as cluster members (default all). */
  tagMembers?: boolean;
  cluster?: string;
  vip?: string;
  vpcCidr?: string;
}

/**
 * Creates a world in moto: the stack's part of it from the packaged template (world-stack.ts:
 * bus, switchover rule, ledger, SSM document, node role and instance profile), and the user's
 * part by hand, as a user has it before deploying: VPC, subnets, route tables, member instances.
 */
export async function createWorld(clients: AwsClients, options: WorldOptions = {}): Promise<World> {
  const prefix = options.prefix ?? '';
  const cluster = options.cluster ?? `${prefix}${DEMO.cluster}`;
  const vip = options.vip ?? DEMO.vip;
  // The stack and the user's network do not depend on each other: moto creates them side by side.
  const [stack, network] = await Promise.all([
    deployWorldStack(clients, prefix),
    createNetwork(clients, options.vpcCidr ?? DEMO.vpcCidr, options.routeTableCount ?? 1),
  ]);
  const { vpcId, appSubnetId, routeTableIds } = network;

  const count = options.instanceCount ?? DEMO.nodeSubnets.length;
  const instances = await Promise.all(
    Array.from({ length: count }, async (_, index): Promise<WorldInstance> => {
      const spec = DEMO.nodeSubnets[index % DEMO.nodeSubnets.length];
      if (spec === undefined) throw new Error('no subnet spec');
      const subnet = await clients.ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: index < DEMO.nodeSubnets.length ? spec.cidr : `198.18.${index + 1}.0/24`,
          AvailabilityZone: spec.az,
        }),
      );
      const subnetId = required(subnet.Subnet?.SubnetId, 'SubnetId');
      const privateIp = index < DEMO.nodeSubnets.length ? spec.privateIp : `198.18.${index + 1}.10`;
      const { instanceId, eni, described } = await runInstance(clients, {
        subnetId,
        instanceProfile: stack.instanceProfile,
        name: `${prefix}pgpool-${index + 1}`,
        privateIp,
      });
      return {
        name: `pgpool-${index + 1}`,
        instanceId,
        eni,
        mac: described.NetworkInterfaces?.[0]?.MacAddress ?? syntheticMac(index),
        privateIp,
        subnetId,
        availabilityZone: spec.az,
        credentials: await instanceRoleCredentials(clients, stack.roleName, instanceId),
      };
    }),
  );

  // Members carry the tag on the instance and on its ENI, as the deploy guide asks (ENIs do not
  // inherit it): one call tags every member's two, as a user's one `create-tags` would.
  if ((options.tagMembers ?? true) && instances.length > 0) {
    await clients.ec2.send(
      new CreateTagsCommand({
        Resources: instances.flatMap((instance) => [instance.instanceId, instance.eni]),
        Tags: [{ Key: MEMBER_TAG_KEY, Value: cluster }],
      }),
    );
  }

  return {
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT_ID,
    vpcId,
    appSubnetId,
    routeTableIds,
    instances,
    busName: stack.busName,
    requestQueueUrl: stack.requestQueueUrl,
    outcomeQueueUrl: stack.outcomeQueueUrl,
    ledgerTable: stack.ledgerTable,
    documentName: stack.documentName,
    roleName: stack.roleName,
    instanceProfile: stack.instanceProfile,
    config: {
      clusters: [
        {
          name: cluster,
          vip,
          routeTables: routeTableIds,
          allowedRoles: [stack.roleName],
          interface: DEMO.interface,
          ssmDocument: stack.documentName,
        },
      ],
    },
  };
}

/** The user's network: the VPC, the application subnet and the route tables the VIP is routed in. */
async function createNetwork(
  clients: AwsClients,
  cidr: string,
  routeTableCount: number,
): Promise<{ vpcId: string; appSubnetId: string; routeTableIds: string[] }> {
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
  const vpcId = required(vpc.Vpc?.VpcId, 'VpcId');
  const [appSubnet, ...tables] = await Promise.all([
    clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: DEMO.appSubnetCidr, AvailabilityZone: 'us-east-1a' })),
    ...Array.from({ length: routeTableCount }, () => clients.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))),
  ]);
  return {
    vpcId,
    appSubnetId: required(appSubnet?.Subnet?.SubnetId, 'SubnetId'),
    routeTableIds: tables.map((table) => required(table.RouteTable?.RouteTableId, 'RouteTableId')),
  };
}

/** One instance with the stack's instance profile, in a subnet of the world; its ENI from EC2. */
export async function runInstance(
  clients: AwsClients,
  spec: { subnetId: string | undefined; instanceProfile: string; name: string; privateIp?: string },
): Promise<{ instanceId: string; eni: string; described: Instance }> {
  const run = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: spec.subnetId,
      ...(spec.privateIp === undefined ? {} : { PrivateIpAddress: spec.privateIp }),
      IamInstanceProfile: { Name: spec.instanceProfile },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: spec.name }] }],
    }),
  );
  const instanceId = required(run.Instances?.[0]?.InstanceId, 'InstanceId');
  // RunInstances answers with the instance as DescribeInstances would, its ENI and MAC included:
  // described again only when the answer lacks them.
  const launched = run.Instances?.[0];
  const described = launched?.NetworkInterfaces?.[0]?.NetworkInterfaceId !== undefined ? launched : await describeInstance(clients, instanceId);
  return { instanceId, eni: required(described.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'NetworkInterfaceId'), described };
}

/** Credentials as the instance profile hands them out: AssumeRole with the instance id as session name. */
export async function instanceRoleCredentials(
  clients: AwsClients,
  roleName: string,
  instanceId: string,
): Promise<AwsCredentialIdentity> {
  const assumed = await clients.sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/${roleName}`,
      RoleSessionName: instanceId,
      DurationSeconds: 3600,
    }),
  );
  const credentials = assumed.Credentials;
  return {
    accessKeyId: required(credentials?.AccessKeyId, 'AccessKeyId'),
    secretAccessKey: required(credentials?.SecretAccessKey, 'SecretAccessKey'),
    sessionToken: required(credentials?.SessionToken, 'SessionToken'),
    ...(credentials?.Expiration ? { expiration: credentials.Expiration } : {}),
  };
}

export async function describeInstance(clients: AwsClients, instanceId: string): Promise<Instance> {
  const described = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = described.Reservations?.[0]?.Instances?.[0];
  if (instance === undefined) throw new Error(`instance ${instanceId} not found`);
  return instance;
}

function syntheticMac(index: number): string {
  return `0a:00:c6:12:00:${(index + 1).toString(16).padStart(2, '0')}`;
}
