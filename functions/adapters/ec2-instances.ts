import {
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';

import type { Member } from '../core/model.ts';
import type { InstanceReader, Members } from '../core/ports.ts';

/** The instance reader on EC2, without the writes and VPC reads the reconciler's role lacks. */
export class Ec2InstanceReader implements InstanceReader {
  public constructor(private readonly ec2: EC2Client) {}

  public describeInstance(instanceId: string): Promise<Member | null> {
    return describeInstance(this.ec2, instanceId);
  }
}

/** The members port on EC2. */
export class Ec2Members implements Members {
  public constructor(private readonly ec2: EC2Client) {}

  public listMembers(tag: { key: string; value: string }): Promise<Member[]> {
    return describeMembers(this.ec2, tag);
  }

  public describeInstance(instanceId: string): Promise<Member | null> {
    return describeInstance(this.ec2, instanceId);
  }

  public vpcCidrs(): Promise<Map<string, string[]>> {
    return describeVpcCidrs(this.ec2);
  }

  public disableSourceDestCheck(eni: string): Promise<void> {
    return disableSourceDestCheck(this.ec2, eni);
  }
}

function toFacts(instance: Instance): Member {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    vpcId: instance.VpcId ?? null,
    tags: Object.fromEntries((instance.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
    interfaces: (instance.NetworkInterfaces ?? []).map((eni) => ({
      eni: eni.NetworkInterfaceId ?? '',
      deviceIndex: eni.Attachment?.DeviceIndex ?? null,
      sourceDestCheck: eni.SourceDestCheck ?? null,
      attached: eni.Attachment?.Status === undefined || eni.Attachment.Status === 'attached',
    })),
  };
}

/** Every non-terminated instance carrying the member tag (one call, all pages). */
async function describeMembers(ec2: EC2Client, tag: { key: string; value: string }): Promise<Member[]> {
  const members: Member[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${tag.key}`, Values: [tag.value] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        NextToken: nextToken,
      }),
    );
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) members.push(toFacts(instance));
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return members;
}

/** One instance by id, or null when EC2 does not know it. */
async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Member | null> {
  try {
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = described.Reservations?.[0]?.Instances?.[0];
    return instance === undefined ? null : toFacts(instance);
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'InvalidInstanceID.NotFound' || name === 'InvalidInstanceID.Malformed') return null;
    throw error;
  }
}

/** The IPv4 CIDR blocks of every VPC of the region (all pages), by VPC id. */
async function describeVpcCidrs(ec2: EC2Client): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeVpcsCommand({ NextToken: nextToken }));
    for (const vpc of page.Vpcs ?? []) {
      if (vpc.VpcId === undefined) continue;
      const blocks = (vpc.CidrBlockAssociationSet ?? [])
        .filter((association) => association.CidrBlockState?.State !== 'disassociated')
        .map((association) => association.CidrBlock)
        .filter((cidr): cidr is string => cidr !== undefined);
      found.set(vpc.VpcId, blocks.length > 0 ? blocks : vpc.CidrBlock ? [vpc.CidrBlock] : []);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

/** Turns the ENI's source/destination check off, so it can receive traffic for the VIP. */
async function disableSourceDestCheck(ec2: EC2Client, eni: string): Promise<void> {
  await ec2.send(
    new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, SourceDestCheck: { Value: false } }),
  );
}
