import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import { describeInstance } from '../adapters/ec2-instances.ts';
import { describeVipRoutes, type VipRoute } from '../adapters/ec2-routes.ts';
import { describeVipRoutesInVpc } from '../adapters/ec2-routes.ts';
import type { VipRecordReader } from '../adapters/ledger-vip-reader.ts';
import type { HolderFacts } from '../core/drift.ts';

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
export async function observeCluster(ec2: EC2Client, ledger: VipRecordReader, cluster: ClusterConfig): Promise<ClusterObservation> {
  const vip = await ledger.readVip(cluster.name);
  const [routes, instance] = await Promise.all([
    vipRoutesOfCluster(ec2, cluster),
    vip === null ? Promise.resolve(null) : describeInstance(ec2, vip.holderInstanceId),
  ]);
  return { vip, routes, holder: vip === null ? null : { instance, vipOnInterface: 'not-checked' } };
}

async function vipRoutesOfCluster(ec2: EC2Client, cluster: ClusterConfig): Promise<VipRoute[]> {
  const configured = await describeVipRoutes(ec2, cluster.routeTables, cluster.vip);
  const vpcs = [...new Set(configured.map((route) => route.vpcId).filter((vpcId) => vpcId !== ''))];
  const elsewhere = await Promise.all(vpcs.map((vpcId) => describeVipRoutesInVpc(ec2, vpcId, cluster.vip)));
  const known = new Set(cluster.routeTables);
  return [...configured, ...elsewhere.flat().filter((route) => !known.has(route.routeTableId))];
}
