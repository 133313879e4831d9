import {
  CreateRouteCommand,
  DescribeRouteTablesCommand,
  ReplaceRouteCommand,
  type EC2Client,
  type Route,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import type { FinalizeRequestMiddleware } from '@smithy/types';

import { vipCidr, type VipRoute } from '../core/model.ts';
import { laterLanding, RouteTableNotFoundError, UnansweredRouteWriteError, type RouteTables, type RouteWriteReceipt } from '../core/ports.ts';

/** The route-tables port on EC2. */
export class Ec2RouteTables implements RouteTables {
  /**
   * `unansweredWriteLandsWithinMs` replaces UNANSWERED_WRITE_LANDS_WITHIN_MS only where no write
   * can land late (AWS in memory applies a write or not, at once): the controller keeps the default.
   */
  public constructor(
    private readonly ec2: EC2Client,
    private readonly options: { unansweredWriteLandsWithinMs?: number } = {},
  ) {}

  public readVipRoutes(routeTableIds: string[], vip: string): Promise<VipRoute[]> {
    return describeVipRoutes(this.ec2, routeTableIds, vip);
  }

  public readVipRoutesInVpc(vpcId: string, vip: string): Promise<VipRoute[]> {
    return describeVipRoutesInVpc(this.ec2, vpcId, vip);
  }

  public pointVipRoute(change: { routeTableId: string; vip: string; eni: string; exists: boolean }): Promise<RouteWriteReceipt> {
    return pointVipRoute(this.ec2, change, this.options.unansweredWriteLandsWithinMs ?? UNANSWERED_WRITE_LANDS_WITHIN_MS);
  }
}

/** Reads the VIP/32 route of every given table in one call. */
async function describeVipRoutes(ec2: EC2Client, routeTableIds: string[], vip: string): Promise<VipRoute[]> {
  let tables;
  try {
    tables = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: routeTableIds }));
  } catch (error) {
    const missing = /(rtb-[0-9a-f]+)/.exec((error as Error).message)?.[1];
    if ((error as Error).name === 'InvalidRouteTableID.NotFound') {
      throw new RouteTableNotFoundError(missing ?? routeTableIds.join(','), { cause: error });
    }
    throw error;
  }
  return routeTableIds.map((routeTableId) => {
    const table = tables.RouteTables?.find((candidate) => candidate.RouteTableId === routeTableId);
    if (table === undefined) throw new RouteTableNotFoundError(routeTableId);
    return vipRouteOf(table, vip);
  });
}

/** The VIP/32 entry of one described table, in the shape every caller compares. */
function vipRouteOf(table: RouteTable, vip: string, vpcId = ''): VipRoute {
  const route = table.Routes?.find((candidate) => candidate.DestinationCidrBlock === vipCidr(vip));
  return {
    routeTableId: table.RouteTableId ?? '',
    vpcId: table.VpcId ?? vpcId,
    target: route === undefined ? null : routeTarget(route),
    state: route === undefined ? null : route.State === 'blackhole' ? 'blackhole' : 'active',
  };
}

/**
 * Every route table of a VPC that has a VIP/32 route, configured or not: a VIP route in a table
 * nobody configured sends part of the VPC's traffic somewhere the controller never looks.
 */
async function describeVipRoutesInVpc(ec2: EC2Client, vpcId: string, vip: string): Promise<VipRoute[]> {
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
      const route = vipRouteOf(table, vip, vpcId);
      if (route.target !== null && table.RouteTableId !== undefined) found.push(route);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

function routeTarget(route: Route): string {
  if (route.NetworkInterfaceId) return route.NetworkInterfaceId;
  if (route.InstanceId) return `instance:${route.InstanceId}`;
  const other = route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.VpcPeeringConnectionId;
  return `other:${other ?? 'unknown'}`;
}

/**
 * How long after the controller gave up on a route write's attempt EC2 may still apply it. EC2
 * publishes no bound on how long it goes on with a request whose client has gone; an attempt is
 * given up on only after the clients' 3 s request timeout (or a dropped connection), and what
 * lands later than this is left to the reconciler (docs/design.md, "Late route writes").
 */
export const UNANSWERED_WRITE_LANDS_WITHIN_MS = 5_000;

interface RouteInput {
  RouteTableId: string;
  DestinationCidrBlock: string;
  NetworkInterfaceId: string;
}

/** Points VIP/32 at the ENI: create when absent, replace when present (the route is never deleted). */
async function pointVipRoute(
  ec2: EC2Client,
  change: { routeTableId: string; vip: string; eni: string; exists: boolean },
  landsWithinMs: number,
): Promise<RouteWriteReceipt> {
  const input: RouteInput = {
    RouteTableId: change.routeTableId,
    DestinationCidrBlock: vipCidr(change.vip),
    NetworkInterfaceId: change.eni,
  };
  const unanswered = { until: null as number | null, landsWithinMs };
  try {
    if (change.exists) {
      await replaceRoute(ec2, input, unanswered);
      return { mayLandUntil: unanswered.until };
    }
    try {
      await createRoute(ec2, input, unanswered);
    } catch (error) {
      // Someone created it between our read and our write: replacing converges to the same end.
      if ((error as Error).name !== 'RouteAlreadyExists') throw error;
      await replaceRoute(ec2, input, unanswered);
    }
    return { mayLandUntil: unanswered.until };
  } catch (error) {
    throw unanswered.until === null ? error : new UnansweredRouteWriteError(error, unanswered.until);
  }
}

/** Where the watch of each attempt goes: inside the SDK's retries, so it sees every attempt. */
const EACH_ATTEMPT = { step: 'finalizeRequest', priority: 'low', name: 'unansweredRouteWrites' } as const;

/** When an attempt given up on may still land (null: none so far), and for how long after it ended. */
interface Unanswered {
  until: number | null;
  landsWithinMs: number;
}

function replaceRoute(ec2: EC2Client, input: RouteInput, unanswered: Unanswered) {
  const command = new ReplaceRouteCommand(input);
  command.middlewareStack.add(watchAttempts(unanswered), EACH_ATTEMPT);
  return ec2.send(command);
}

function createRoute(ec2: EC2Client, input: RouteInput, unanswered: Unanswered) {
  const command = new CreateRouteCommand(input);
  command.middlewareStack.add(watchAttempts(unanswered), EACH_ATTEMPT);
  return ec2.send(command);
}

/**
 * Watches each attempt of a route write: one that ends without an answer from EC2 may still be
 * applied, so `unanswered.until` is moved past it.
 */
function watchAttempts<I extends object, O extends object>(unanswered: Unanswered): FinalizeRequestMiddleware<I, O> {
  return (next) => async (args) => {
    try {
      return await next(args);
    } catch (error) {
      if (!answered(error)) unanswered.until = laterLanding(unanswered.until, Date.now() + unanswered.landsWithinMs);
      throw error;
    }
  };
}

/** Whether EC2 answered the attempt (an error answer included): only then is it known to be over. */
function answered(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return '$response' in error || typeof status === 'number';
}
