import {
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerClientSettings, REQUEST_TIMEOUT_MS } from '../../functions/adapters/client-settings.ts';
import { Ec2RouteTables, UNANSWERED_WRITE_LANDS_WITHIN_MS } from '../../functions/adapters/ec2-routes.ts';
import { UnansweredRouteWriteError } from '../../functions/core/ports.ts';
import { motoClientConfig, MOTO_REGION, MOTO_ROOT_CREDENTIALS } from '../../local/aws-clients.ts';
import { startAwsFrontDoor, type AwsFrontDoor } from '../../local/front-door/front-door.ts';
import { sharedMoto } from '../kit/moto.ts';

// The EC2 route adapter with the controller's production clients, through the front door: which
// attempts of a route write EC2 answered, and which it may still apply after the write returned.
const VIP = '198.19.0.50';
/** Longer than the clients' request timeout: the attempt is given up on, then reaches moto. */
const HELD_MS = REQUEST_TIMEOUT_MS + 1000;

let moto: ReturnType<typeof sharedMoto>;
let direct: EC2Client;
let vpcId: string | undefined;
let enis: [string, string];
const doors: AwsFrontDoor[] = [];

beforeAll(async () => {
  moto = sharedMoto();
  direct = new EC2Client(motoClientConfig(moto.endpoint));
  vpcId = (await direct.send(new CreateVpcCommand({ CidrBlock: '198.18.0.0/16' }))).Vpc?.VpcId;
  const subnetId = (await direct.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '198.18.44.0/24' }))).Subnet?.SubnetId;
  const eni = async () => (await direct.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }))).NetworkInterface?.NetworkInterfaceId ?? '';
  enis = [await eni(), await eni()];
});
afterAll(async () => {
  for (const door of doors) await door.stop();
});

/**
 * A spec's own route table, its VIP route on the first ENI, and the adapter behind a front door of
 * its own (faults apply to every call through a door), so the specs run side by side.
 */
async function table(): Promise<{ door: AwsFrontDoor; routes: Ec2RouteTables; target: () => Promise<string | undefined>; routeTableId: string }> {
  const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: moto.endpoint });
  doors.push(door);
  const routeTableId = (await direct.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable?.RouteTableId ?? '';
  await direct.send(new CreateRouteCommand({ RouteTableId: routeTableId, DestinationCidrBlock: `${VIP}/32`, NetworkInterfaceId: enis[0] }));
  const routes = new Ec2RouteTables(new EC2Client({ ...controllerClientSettings(), endpoint: door.endpoint, region: MOTO_REGION, credentials: MOTO_ROOT_CREDENTIALS }));
  const target = async (): Promise<string | undefined> =>
    (await direct.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTableId] }))).RouteTables?.[0]?.Routes?.find((route) => route.DestinationCidrBlock === `${VIP}/32`)
      ?.NetworkInterfaceId;
  return { door, routes, target, routeTableId };
}

describe.concurrent('Adapter: EC2 route writes, attempt by attempt', () => {
  it('reports nothing that may land late when EC2 answered every attempt, a throttled one included', async () => {
    const { door, routes, target, routeTableId } = await table();
    door.inject({ service: 'ec2', operation: 'ReplaceRoute', fault: 'throttle' });

    const receipt = await routes.pointVipRoute({ routeTableId, vip: VIP, eni: enis[1], exists: true });

    expect(receipt).toEqual({ mayLandUntil: null });
    expect(await target()).toBe(enis[1]);
  });

  it('reports until when an attempt held past the request timeout may still land, and it does land after the write returned', async () => {
    const { door, routes, target, routeTableId } = await table();
    await routes.pointVipRoute({ routeTableId, vip: VIP, eni: enis[0], exists: true });
    door.inject({ service: 'ec2', operation: 'ReplaceRoute', fault: 'delay', delayMs: HELD_MS });
    const started = Date.now();

    const receipt = await routes.pointVipRoute({ routeTableId, vip: VIP, eni: enis[1], exists: true });
    const returned = Date.now();
    // Someone points the route elsewhere before the held attempt reaches EC2.
    await routes.pointVipRoute({ routeTableId, vip: VIP, eni: enis[0], exists: true });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + HELD_MS + 500 - Date.now())));

    // Given up on after the request timeout, so it may land until the window after that.
    expect(receipt.mayLandUntil).toBeGreaterThanOrEqual(started + REQUEST_TIMEOUT_MS + UNANSWERED_WRITE_LANDS_WITHIN_MS);
    expect(receipt.mayLandUntil).toBeLessThanOrEqual(returned + UNANSWERED_WRITE_LANDS_WITHIN_MS);
    // The premise: the attempt given up on was applied after the write had returned.
    expect(await target()).toBe(enis[1]);
  });

  it('fails with the time an unanswered attempt may still land when no attempt was answered', async () => {
    const { door, routes, routeTableId } = await table();
    door.inject({ service: 'ec2', operation: 'ReplaceRoute', fault: 'drop-after', times: Number.POSITIVE_INFINITY });
    const started = Date.now();

    const failure = await routes.pointVipRoute({ routeTableId, vip: VIP, eni: enis[0], exists: true }).then(
      () => null,
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(UnansweredRouteWriteError);
    expect((failure as UnansweredRouteWriteError).mayLandUntil).toBeGreaterThanOrEqual(started + UNANSWERED_WRITE_LANDS_WITHIN_MS);
  });
});
