import type { Route, RouteTable } from '@aws-sdk/client-ec2';
import { AwsJsonClient, DYNAMODB } from './aws-json.ts';
import { clientConfig, resolveCredentials } from './credentials.ts';
import type { Deadline } from './deadline.ts';
import { EXIT, SwitchoverFailedError, type ExitCode } from './errors.ts';
import { interfaceExists, interfaceHasAddress } from './host-interface.ts';
import type { AgentIo } from './io.ts';
import { describeProblem, lookUpIdentity, type InspectCommand } from './inspect.ts';
import { readVipRecord } from './outcome.ts';

/**
 * `status`: where the VIP is routed, who the ledger says holds it, and whether it is on
 * this node's interface. Exit 1 when a question could not be answered.
 */
export async function runStatus(command: InspectCommand, io: AgentIo, deadline: Deadline): Promise<ExitCode> {
  const { config, iface } = command;
  const lookup = await lookUpIdentity(command, io.env, deadline);
  const region = lookup.ok ? lookup.identity.region : lookup.region;
  if (region === undefined) throw new SwitchoverFailedError(`no region: ${lookup.ok ? '' : lookup.problem}; set region in ${command.configPath}`);
  const self = lookup.ok ? lookup.identity : undefined;
  io.stdout(`cluster ${config.cluster}: VIP ${config.vip}, region ${region}`);
  io.stdout(self ? `node: ${self.instanceId}, ${iface} is ${self.eni}` : `node: unknown (${lookup.ok ? '' : lookup.problem})`);

  let unanswered = 0;
  const credentials = await resolveCredentials(deadline);
  // EC2 is only needed here: loading it lazily keeps `up` quick to start.
  const { EC2Client, DescribeRouteTablesCommand } = await import('./ec2-reads.ts');
  const ec2 = new EC2Client(clientConfig(region, credentials, 2));
  const dynamodb = new AwsJsonClient(DYNAMODB, { region, credentials, env: io.env });
  try {
    const destination = `${config.vip}/32`;
    try {
      const tables = await deadline.race('waiting for DescribeRouteTables', (signal) =>
        ec2.send(
          new DescribeRouteTablesCommand({
            Filters: [
              { Name: 'route.destination-cidr-block', Values: [destination] },
              ...(config.routeTables === undefined ? [] : [{ Name: 'route-table-id', Values: config.routeTables }]),
            ],
          }),
          { abortSignal: signal },
        ),
      );
      for (const line of routeLines(tables.RouteTables ?? [], destination, config.routeTables, self?.eni)) io.stdout(line);
    } catch (error) {
      unanswered += 1;
      io.stdout(`route: unknown (DescribeRouteTables: ${describeProblem(error)})`);
    }

    try {
      const vip = await readVipRecord(dynamodb, config.ledgerTable, config.cluster, deadline);
      io.stdout(holderLine(vip, self?.instanceId));
    } catch (error) {
      unanswered += 1;
      io.stdout(`ledger: unknown (GetItem on ${config.ledgerTable}: ${describeProblem(error)})`);
    }
  } finally {
    ec2.destroy();
    dynamodb.destroy();
  }

  if (!(await interfaceExists(iface))) io.stdout(`interface ${iface}: no such interface on this host`);
  else io.stdout(`interface ${iface}: ${config.vip} ${interfaceHasAddress(iface, config.vip) ? 'present' : 'absent'}`);
  return unanswered === 0 ? EXIT.done : EXIT.failed;
}

/** One line per table: configured tables without the route are named too. */
export function routeLines(
  tables: readonly RouteTable[],
  destination: string,
  configured: readonly string[] | undefined,
  ownEni: string | undefined,
): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const table of tables) {
    const id = table.RouteTableId ?? '(unnamed table)';
    seen.add(id);
    const route = (table.Routes ?? []).find((candidate) => candidate.DestinationCidrBlock === destination);
    if (route === undefined) continue;
    const target = routeTarget(route);
    const mine = ownEni !== undefined && route.NetworkInterfaceId === ownEni ? ' (this node)' : '';
    lines.push(`route ${id}: ${destination} -> ${target}${mine}, ${route.State ?? 'state unknown'}`);
  }
  for (const id of configured ?? []) if (!seen.has(id)) lines.push(`route ${id}: no route for ${destination}`);
  if (lines.length === 0) lines.push(`route: no route table has ${destination}`);
  return lines;
}

function routeTarget(route: Route): string {
  const parts = [route.NetworkInterfaceId, route.InstanceId].filter((part): part is string => part !== undefined);
  if (parts.length > 0) return parts.join(' ');
  return route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.VpcPeeringConnectionId ?? 'unknown target';
}

function holderLine(vip: Awaited<ReturnType<typeof readVipRecord>>, ownInstanceId: string | undefined): string {
  if (vip === undefined) return 'ledger: no holder recorded yet';
  const mine = vip.holderInstanceId === ownInstanceId ? ' (this node)' : '';
  const released = vip.released ? `, released at ${vip.releasedAt ?? 'unknown time'}` : '';
  return `ledger: holder ${vip.holderInstanceId} (${vip.holderEni})${mine} since ${vip.upIssuedAt}, request ${vip.upRequestId}, version ${vip.version}${released}`;
}
