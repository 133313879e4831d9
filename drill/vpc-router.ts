import { DescribeRouteTablesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ip } from './netns.ts';
import { sleep } from './processes.ts';
import { ROUTER, VIP } from './topology.ts';

/** Where the route table sends the VIP: a node's address, or nowhere. */
export interface RouteTarget {
  /** ENI or instance id named by the route. */
  target: string | null;
  nodeIp: string | null;
}

export interface VpcRouterOptions {
  ec2: EC2Client;
  routeTableId: string;
  /** Private IP of the instance behind an ENI id or instance id. */
  addressOf: (eniOrInstanceId: string) => string | undefined;
  onChange: (route: RouteTarget) => void;
  onError: (error: unknown) => void;
  pollMs?: number;
}

export interface VpcRouter {
  current(): RouteTarget;
  stop(): Promise<void>;
}

/**
 * The VPC's router: reads the route table from moto every pollMs and makes the router
 * namespace's route for VIP/32 follow it (`via` the target node's address), or removes it
 * when the table has none, so the app host reaches the VIP exactly where the table says.
 */
export function startVpcRouter(options: VpcRouterOptions): VpcRouter {
  let applied: RouteTarget = { target: null, nodeIp: null };
  let stopped = false;
  const destination = `${VIP}/32`;
  try {
    ip('-n', ROUTER.ns, 'route', 'del', destination);
  } catch {
    // none yet
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const described = await options.ec2.send(
          new DescribeRouteTablesCommand({ RouteTableIds: [options.routeTableId] }),
        );
        const route = described.RouteTables?.[0]?.Routes?.find((entry) => entry.DestinationCidrBlock === destination);
        const target = route?.NetworkInterfaceId ?? route?.InstanceId ?? null;
        const nodeIp = target === null ? null : (options.addressOf(target) ?? null);
        if (target !== applied.target || nodeIp !== applied.nodeIp) {
          if (nodeIp === null) {
            try {
              ip('-n', ROUTER.ns, 'route', 'del', destination);
            } catch {
              // already absent
            }
          } else {
            ip('-n', ROUTER.ns, 'route', 'replace', destination, 'via', nodeIp);
          }
          applied = { target, nodeIp };
          options.onChange(applied);
        }
      } catch (error) {
        options.onError(error);
      }
      await sleep(options.pollMs ?? 100);
    }
  })();

  return {
    current: () => applied,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
