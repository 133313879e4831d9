import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
} from '@aws-sdk/client-iam';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { CreateDocumentCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_BUS_NAME,
  OUTCOME_SOURCE,
  REQUEST_DETAIL_TYPE,
  REQUEST_SOURCE,
} from '../lib/contract.ts';
import { LEDGER_HISTORY_INDEX, LEDGER_PARTITION_KEY } from '../lib/ledger-records.ts';
import { DEFAULT_SSM_DOCUMENT, MEMBER_TAG_KEY, type ControllerConfigInput } from '../lib/cluster-config.ts';
import { DOCUMENT_PATH } from '../infra/ssm-document.ts';
import { MOTO_ACCOUNT_ID, MOTO_REGION, type AwsClients } from './aws-clients.ts';

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
  busName?: string;
}

const TRUST_EC2_ONLY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** Creates the demo world in moto: VPC, subnets, member instances, route tables, bus, queue, ledger, document. */
export async function createWorld(clients: AwsClients, options: WorldOptions = {}): Promise<World> {
  const prefix = options.prefix ?? '';
  const cluster = options.cluster ?? `${prefix}${DEMO.cluster}`;
  const vip = options.vip ?? DEMO.vip;
  const busName = options.busName ?? `${prefix}${DEFAULT_BUS_NAME}`;
  const ledgerTable = `${prefix}pgpool-vip-ledger`;
  const documentName = `${prefix}${DEFAULT_SSM_DOCUMENT}`;
  const roleName = `${prefix}${DEMO.roleName}`;

  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: options.vpcCidr ?? DEMO.vpcCidr }));
  const vpcId = required(vpc.Vpc?.VpcId, 'VpcId');
  const appSubnet = await clients.ec2.send(
    new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: DEMO.appSubnetCidr, AvailabilityZone: 'us-east-1a' }),
  );
  const appSubnetId = required(appSubnet.Subnet?.SubnetId, 'SubnetId');

  const routeTableIds: string[] = [];
  for (let index = 0; index < (options.routeTableCount ?? 1); index += 1) {
    const table = await clients.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }));
    routeTableIds.push(required(table.RouteTable?.RouteTableId, 'RouteTableId'));
  }

  await clients.iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: TRUST_EC2_ONLY }));
  await clients.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: roleName }));
  await clients.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: roleName, RoleName: roleName }));

  const instances: WorldInstance[] = [];
  const count = options.instanceCount ?? DEMO.nodeSubnets.length;
  for (let index = 0; index < count; index += 1) {
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
    const { instanceId, eni, described } = await runInstance(clients, { subnetId, roleName, name: `${prefix}pgpool-${index + 1}`, privateIp });
    // Members carry the tag on the instance and on its ENI, as the deploy guide asks (ENIs do not inherit it).
    if (options.tagMembers ?? true) {
      await clients.ec2.send(
        new CreateTagsCommand({ Resources: [instanceId, eni], Tags: [{ Key: MEMBER_TAG_KEY, Value: cluster }] }),
      );
    }
    const mac = described.NetworkInterfaces?.[0]?.MacAddress ?? syntheticMac(index);
    instances.push({
      name: `pgpool-${index + 1}`,
      instanceId,
      eni,
      mac,
      privateIp,
      subnetId,
      availabilityZone: spec.az,
      credentials: await instanceRoleCredentials(clients, roleName, instanceId),
    });
  }

  await clients.eventbridge.send(new CreateEventBusCommand({ Name: busName }));
  const requestQueueUrl = await createQueueWithArn(clients, `${prefix}pgpool-vip-requests`);
  const outcomeQueueUrl = await createQueueWithArn(clients, `${prefix}pgpool-vip-outcomes`);
  await routeToQueue(clients, busName, `${prefix}pgpool-vip-requests`, requestQueueUrl.arn, {
    source: [REQUEST_SOURCE],
    'detail-type': [REQUEST_DETAIL_TYPE],
  });
  await routeToQueue(clients, busName, `${prefix}pgpool-vip-outcomes`, outcomeQueueUrl.arn, {
    source: [OUTCOME_SOURCE],
  });

  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: ledgerTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: LEDGER_PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: 'cluster', AttributeType: 'S' },
        { AttributeName: 'recordedAt', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: LEDGER_PARTITION_KEY, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: LEDGER_HISTORY_INDEX,
          KeySchema: [
            { AttributeName: 'cluster', KeyType: 'HASH' },
            { AttributeName: 'recordedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );

  await clients.ssm.send(
    new CreateDocumentCommand({
      Name: documentName,
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      Content: readFileSync(DOCUMENT_PATH, 'utf8'),
    }),
  );

  return {
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT_ID,
    vpcId,
    appSubnetId,
    routeTableIds,
    instances,
    busName,
    requestQueueUrl: requestQueueUrl.url,
    outcomeQueueUrl: outcomeQueueUrl.url,
    ledgerTable,
    documentName,
    roleName,
    config: {
      clusters: [
        {
          name: cluster,
          vip,
          routeTables: routeTableIds,
          allowedRoles: [roleName],
          interface: DEMO.interface,
          ssmDocument: documentName,
        },
      ],
    },
  };
}

/** One instance with the role's instance profile, in a subnet of the world; its ENI from EC2. */
export async function runInstance(
  clients: AwsClients,
  spec: { subnetId: string | undefined; roleName: string; name: string; privateIp?: string },
): Promise<{ instanceId: string; eni: string; described: Instance }> {
  const run = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: spec.subnetId,
      ...(spec.privateIp === undefined ? {} : { PrivateIpAddress: spec.privateIp }),
      IamInstanceProfile: { Name: spec.roleName },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: spec.name }] }],
    }),
  );
  const instanceId = required(run.Instances?.[0]?.InstanceId, 'InstanceId');
  const described = await describeInstance(clients, instanceId);
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

async function createQueueWithArn(clients: AwsClients, name: string): Promise<{ url: string; arn: string }> {
  const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: name }));
  const url = required(created.QueueUrl, 'QueueUrl');
  const attributes = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: required(attributes.Attributes?.QueueArn, 'QueueArn') };
}

async function routeToQueue(
  clients: AwsClients,
  busName: string,
  ruleName: string,
  queueArn: string,
  pattern: Record<string, unknown>,
): Promise<void> {
  await clients.eventbridge.send(
    new PutRuleCommand({ Name: ruleName, EventBusName: busName, EventPattern: JSON.stringify(pattern) }),
  );
  await clients.eventbridge.send(
    new PutTargetsCommand({ Rule: ruleName, EventBusName: busName, Targets: [{ Id: 'queue', Arn: queueArn }] }),
  );
}

function syntheticMac(index: number): string {
  return `0a:00:c6:12:00:${(index + 1).toString(16).padStart(2, '0')}`;
}

function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`moto answered without ${what}`);
  return value;
}
