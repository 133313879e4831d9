import { DescribeRouteTablesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ip } from './netns.ts';
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
  /** The longest time between two reads of the table when nothing calls sync() (default 1000 ms). */
  pollMs?: number;
}

export interface VpcRouter {
  current(): RouteTarget;
  /**
   * Reads the table again now: a route write was answered (the front door tells). The data plane
   * follows a route change at once, so the router must not add a poll interval of its own.
   */
  sync(): void;
  /**
   * A route write EC2 answered with success (the front door tells, with the write's own
   * parameters): the data plane follows it at once, without a read of the table first. A read
   * under way when it came is not applied (it may predate the write); the table is read again.
   */
  follow(write: { routeTableId: string; destination: string; target: string }): void;
  stop(): Promise<void>;
}

/**
 * The VPC's router: follows each successful route write the moment EC2 answered it (follow),
 * reads the route table from moto whenever another write was answered (sync) and every pollMs
 * besides, and makes the router namespace's route for VIP/32 point `via` the target node's
 * address, or removes it when the table has none, so the app host reaches the VIP exactly where
 * the table says. It used to poll every 100 ms: up to 100 ms late on every switchover, then a
 * read of a busy moto (0.3 s under load), and moto busy answering the polls.
 */
export function startVpcRouter(options: VpcRouterOptions): VpcRouter {
  let applied: RouteTarget = { target: null, nodeIp: null };
  let stopped = false;
  // A sync asked for while a read is under way reads again right after it.
  let pending = false;
  let wake: (() => void) | null = null;
  const sync = (): void => {
    pending = true;
    wake?.();
  };
  const nextRound = async (): Promise<void> => {
    if (pending || stopped) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, options.pollMs ?? 1000);
    });
    clearTimeout(timer);
    wake = null;
  };
  const destination = `${VIP}/32`;
  // Bumped by each followed write: a read that started before it may show the table before it.
  let generation = 0;
  const apply = (target: string | null): void => {
    const nodeIp = target === null ? null : (options.addressOf(target) ?? null);
    if (target === applied.target && nodeIp === applied.nodeIp) return;
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
  };
  try {
    ip('-n', ROUTER.ns, 'route', 'del', destination);
  } catch {
    // none yet
  }

  const loop = (async () => {
    while (!stopped) {
      pending = false;
      const readAt = generation;
      try {
        const described = await options.ec2.send(
          new DescribeRouteTablesCommand({ RouteTableIds: [options.routeTableId] }),
        );
        const route = described.RouteTables?.[0]?.Routes?.find((entry) => entry.DestinationCidrBlock === destination);
        if (readAt === generation) apply(route?.NetworkInterfaceId ?? route?.InstanceId ?? null);
      } catch (error) {
        options.onError(error);
      }
      await nextRound();
    }
  })();

  return {
    current: () => applied,
    sync,
    follow(write) {
      if (stopped || write.routeTableId !== options.routeTableId || write.destination !== destination) return;
      generation += 1;
      try {
        apply(write.target);
      } catch (error) {
        options.onError(error);
      }
      sync();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
