import { DescribeRouteTablesCommand, type EC2Client, type Route } from '@aws-sdk/client-ec2';
import { vipCidr, type VipRoute } from './ec2-routes.ts';

/**
 * Every route table of a VPC that has a VIP/32 route, configured or not: a VIP route in a table
 * nobody configured sends part of the VPC's traffic somewhere the controller never looks.
 */
export async function describeVipRoutesInVpc(ec2: EC2Client, vpcId: string, vip: string): Promise<VipRoute[]> {
  const found: VipRoute[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'route.destination-cidr-block', Values: [vipCidr(vip)] },
        ],
        NextToken: nextToken,
      }),
    );
    for (const table of page.RouteTables ?? []) {
      const route = table.Routes?.find((candidate) => candidate.DestinationCidrBlock === vipCidr(vip));
      if (route === undefined || table.RouteTableId === undefined) continue;
      found.push({
        routeTableId: table.RouteTableId,
        vpcId: table.VpcId ?? vpcId,
        target: targetOf(route),
        state: route.State === 'blackhole' ? 'blackhole' : 'active',
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

// Same spelling as ec2-routes.ts, so findings from both adapters compare equal.
function targetOf(route: Route): string {
  if (route.NetworkInterfaceId) return route.NetworkInterfaceId;
  if (route.InstanceId) return `instance:${route.InstanceId}`;
  const other = route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.VpcPeeringConnectionId;
  return `other:${other ?? 'unknown'}`;
}
