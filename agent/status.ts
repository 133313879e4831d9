import type { Route, RouteTable } from '@aws-sdk/client-ec2';
import { AwsJsonClient, DYNAMODB } from './aws-json.ts';
import type { VipRecord } from '../lib/ledger-records.ts';
import { clientConfig, resolveCredentials } from './credentials.ts';
import type { Deadline } from './deadline.ts';
import { EXIT, SwitchoverFailedError, type ExitCode } from './errors.ts';
import { interfaceExists, interfaceHasAddress } from './host-interface.ts';
import type { AgentIo } from './io.ts';
import { describeProblem, lookUpIdentity, type InspectCommand } from './inspect.ts';
import { readVipRecord } from './outcome.ts';

export interface StatusCommand extends InspectCommand {
  json?: boolean;
}

/** The VIP route in one table, as DescribeRouteTables shows it; target undefined when the table has none. */
export interface RouteView {
  routeTableId: string;
  target: string | undefined;
  eni: string | undefined;
  state: string | undefined;
}

/** What status saw of the interface: the VIP present or absent, or not looked at. */
export type InterfaceView = 'present' | 'absent' | 'no such interface' | 'not checked';

export interface StatusFacts {
  self: { instanceId: string; eni: string } | undefined;
  /** undefined when DescribeRouteTables failed. */
  routes: RouteView[] | undefined;
  /** null: no holder recorded; undefined: the ledger could not be read. */
  ledger: VipRecord | null | undefined;
  iface: string;
  onInterface: InterfaceView;
}

/**
 * Whether the ledger, the routes and the interface tell the same story: every route points at
 * the holder's ENI, and the VIP is on this node's interface exactly when this node holds it
 * (after a release the route stays where it was, on purpose, and the VIP is on no interface).
 */
export function disagreements(facts: StatusFacts): string[] {
  const problems: string[] = [];
  const { ledger, routes } = facts;
  if (routes === undefined || ledger === undefined) return problems;
  if (ledger === null) {
    for (const route of routes) {
      if (route.target !== undefined) problems.push(`route ${route.routeTableId} points at ${route.target} but the ledger records no holder`);
    }
  } else {
    for (const route of routes) {
      if (route.target === undefined) problems.push(`route table ${route.routeTableId} has no route for the VIP; the ledger's holder is ${ledger.holderInstanceId} (${ledger.holderEni})`);
      else if (route.eni !== ledger.holderEni) problems.push(`route ${route.routeTableId} points at ${route.target}, the ledger's holder ${ledger.holderInstanceId} is ${ledger.holderEni}`);
      else if (route.state !== undefined && route.state !== 'active') problems.push(`route ${route.routeTableId} to ${route.target} is ${route.state}`);
    }
  }
  const self = facts.self;
  if (self !== undefined && (facts.onInterface === 'present' || facts.onInterface === 'absent')) {
    const holdsIt = ledger !== null && !ledger.released && ledger.holderInstanceId === self.instanceId;
    if (holdsIt && facts.onInterface === 'absent') problems.push(`this node holds the VIP in the ledger but it is not on ${facts.iface}`);
    if (!holdsIt && facts.onInterface === 'present') {
      const who = ledger === null ? 'no holder is recorded' : ledger.released ? 'the ledger records it released' : `the ledger's holder is ${ledger.holderInstanceId}`;
      problems.push(`the VIP is on ${facts.iface} but ${who}`);
    }
  }
  return problems;
}

/**
 * `status`: where the VIP is routed, who the ledger says holds it, and whether it is on this
 * node's interface. Exit 1 when they disagree or a question could not be answered.
 */
export async function runStatus(command: StatusCommand, io: AgentIo, deadline: Deadline): Promise<ExitCode> {
  const { config, iface } = command;
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    if (command.json !== true) io.stdout(line);
  };
  const lookup = await lookUpIdentity(command, io.env, deadline);
  const region = lookup.ok ? lookup.identity.region : lookup.region;
  if (region === undefined) throw new SwitchoverFailedError(`no region: ${lookup.ok ? '' : lookup.problem}; set region in ${command.configPath}`);
  const self = lookup.ok ? lookup.identity : undefined;
  say(`cluster ${config.cluster}: VIP ${config.vip}, region ${region}`);
  say(self ? `node: ${self.instanceId}, ${iface} is ${self.eni}` : `node: unknown (${lookup.ok ? '' : lookup.problem})`);

  const unanswered: string[] = [];
  const credentials = await resolveCredentials(deadline);
  // EC2 is only needed here: loading it lazily keeps `up` quick to start.
  const { EC2Client, DescribeRouteTablesCommand } = await import('./ec2-reads.ts');
  const ec2 = new EC2Client(clientConfig(region, credentials, 2));
  const dynamodb = new AwsJsonClient(DYNAMODB, { region, credentials, env: io.env });
  const destination = `${config.vip}/32`;
  let routes: RouteView[] | undefined;
  let ledger: VipRecord | null | undefined;
  try {
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
      routes = routeViews(tables.RouteTables ?? [], destination, config.routeTables);
      for (const line of routeLines(routes, destination, self?.eni)) say(line);
    } catch (error) {
      unanswered.push(`DescribeRouteTables: ${describeProblem(error)}`);
      say(`route: unknown (DescribeRouteTables: ${describeProblem(error)})`);
    }

    try {
      ledger = (await readVipRecord(dynamodb, config.ledgerTable, config.cluster, deadline)) ?? null;
      say(holderLine(ledger ?? undefined, self?.instanceId));
    } catch (error) {
      unanswered.push(`GetItem on ${config.ledgerTable}: ${describeProblem(error)}`);
      say(`ledger: unknown (GetItem on ${config.ledgerTable}: ${describeProblem(error)})`);
    }
  } finally {
    ec2.destroy();
    dynamodb.destroy();
  }

  let onInterface: InterfaceView;
  if (!config.checkInterface) onInterface = 'not checked';
  else if (!(await interfaceExists(iface))) onInterface = 'no such interface';
  else onInterface = interfaceHasAddress(iface, config.vip) ? 'present' : 'absent';
  say(
    onInterface === 'not checked'
      ? `interface ${iface}: not checked (checkInterface false in ${command.configPath})`
      : onInterface === 'no such interface'
        ? `interface ${iface}: no such interface on this host`
        : `interface ${iface}: ${config.vip} ${onInterface}`,
  );

  const problems = [...unanswered.map((question) => `unanswered: ${question}`), ...disagreements({ self, routes, ledger, iface, onInterface })];
  say(problems.length === 0 ? 'agree: the routes, the ledger and the interface tell the same story' : `DISAGREE: ${problems.join('; ')}`);
  if (command.json === true) {
    io.stdout(
      JSON.stringify({
        cluster: config.cluster,
        vip: config.vip,
        region,
        node: self === undefined ? null : { instanceId: self.instanceId, eni: self.eni, interface: iface },
        routes: routes ?? null,
        ledger: ledger === undefined ? null : ledger === null ? { holder: null } : {
          holder: ledger.holderInstanceId,
          holderEni: ledger.holderEni,
          released: ledger.released,
          since: ledger.upIssuedAt,
          requestId: ledger.upRequestId,
          version: ledger.version,
        },
        interface: { name: iface, vip: onInterface },
        agree: problems.length === 0,
        problems,
      }),
    );
  }
  return problems.length === 0 ? EXIT.done : EXIT.failed;
}

/** One view per table with the route, and one per configured table without it. */
export function routeViews(tables: readonly RouteTable[], destination: string, configured: readonly string[] | undefined): RouteView[] {
  const views: RouteView[] = [];
  for (const table of tables) {
    const route = (table.Routes ?? []).find((candidate) => candidate.DestinationCidrBlock === destination);
    if (route === undefined) continue;
    views.push({ routeTableId: table.RouteTableId ?? '(unnamed table)', target: routeTarget(route), eni: route.NetworkInterfaceId, state: route.State });
  }
  for (const id of configured ?? []) {
    if (!views.some((view) => view.routeTableId === id)) views.push({ routeTableId: id, target: undefined, eni: undefined, state: undefined });
  }
  return views;
}

export function routeLines(views: readonly RouteView[], destination: string, ownEni: string | undefined): string[] {
  const lines = views.map((view) => {
    if (view.target === undefined) return `route ${view.routeTableId}: no route for ${destination}`;
    const mine = ownEni !== undefined && view.eni === ownEni ? ' (this node)' : '';
    return `route ${view.routeTableId}: ${destination} -> ${view.target}${mine}, ${view.state ?? 'state unknown'}`;
  });
  return lines.length === 0 ? [`route: no route table has ${destination}`] : lines;
}

function routeTarget(route: Route): string {
  const parts = [route.NetworkInterfaceId, route.InstanceId].filter((part): part is string => part !== undefined);
  if (parts.length > 0) return parts.join(' ');
  return route.GatewayId ?? route.NatGatewayId ?? route.TransitGatewayId ?? route.VpcPeeringConnectionId ?? 'unknown target';
}

function holderLine(vip: VipRecord | undefined, ownInstanceId: string | undefined): string {
  if (vip === undefined) return 'ledger: no holder recorded yet';
  const mine = vip.holderInstanceId === ownInstanceId ? ' (this node)' : '';
  const released = vip.released ? `, released at ${vip.releasedAt ?? 'unknown time'}` : '';
  return `ledger: holder ${vip.holderInstanceId} (${vip.holderEni})${mine} since ${vip.upIssuedAt}, request ${vip.upRequestId}, version ${vip.version}${released}`;
}
