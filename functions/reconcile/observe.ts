import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import type { HolderFacts } from '../core/drift.ts';
import type { VipRoute } from '../core/model.ts';
import type { ReconcilePorts, RouteTables } from '../core/ports.ts';

/** What one look at a cluster saw. */
export interface ClusterObservation {
  vip: VipRecord | null;
  /** The configured tables (target null when the route is absent), then other tables of the VPC with a VIP/32 route. */
  routes: VipRoute[];
  holder: HolderFacts | null;
}

/**
 * Reads the ledger first, then the network: the controller writes the ledger before it rewrites
 * routes, so a switchover in flight shows as routes behind the ledger, never ahead of it.
 */
export async function observeCluster(ports: ReconcilePorts, cluster: ClusterConfig): Promise<ClusterObservation> {
  const vip = await ports.ledger.readVip(cluster.name);
  const [routes, instance] = await Promise.all([
    vipRoutesOfCluster(ports.routeTables, cluster),
    vip === null ? Promise.resolve(null) : ports.members.describeInstance(vip.holderInstanceId),
  ]);
  return { vip, routes, holder: vip === null ? null : { instance, vipOnInterface: 'not-checked' } };
}

async function vipRoutesOfCluster(routeTables: RouteTables, cluster: ClusterConfig): Promise<VipRoute[]> {
  const configured = await routeTables.readVipRoutes(cluster.routeTables, cluster.vip);
  const vpcs = [...new Set(configured.map((route) => route.vpcId).filter((vpcId) => vpcId !== ''))];
  const elsewhere = await Promise.all(vpcs.map((vpcId) => routeTables.readVipRoutesInVpc(vpcId, cluster.vip)));
  const known = new Set(cluster.routeTables);
  return [...configured, ...elsewhere.flat().filter((route) => !known.has(route.routeTableId))];
}
