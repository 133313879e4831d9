import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { RouteReport } from '../../lib/contract.ts';
import { describeError } from '../../lib/errors.ts';
import type { SsmCommandReport } from '../../lib/ledger-records.ts';
import type { Member, RoutePlan } from './model.ts';
import { laterLanding, UnansweredRouteWriteError, type AddressAction, type NodeAddress, type RouteTables } from './ports.ts';

/** What one action on the network did; `failure` is null when it succeeded. */
export interface RouteWrites {
  routes: RouteReport[];
  failure: string | null;
  /** Until when an attempt given up on may still land (ms since the epoch), or null. */
  mayLandUntil: number | null;
}
export interface AddressChange {
  report: SsmCommandReport;
  failure: string | null;
}

/** Points VIP/32 at `eni` in every planned table, all tables at once; reports each table. */
export async function rewriteRoutes(routeTables: RouteTables, vip: string, eni: string, plans: RoutePlan[]): Promise<RouteWrites> {
  const results = await Promise.allSettled(
    plans.map(async (plan) => {
      if (plan.change === 'keep') return { mayLandUntil: null };
      return await routeTables.pointVipRoute({ routeTableId: plan.routeTableId, vip, eni, exists: plan.change === 'replace' });
    }),
  );
  const routes = plans.map((plan, index): RouteReport => ({
    ...plan,
    after: results[index]?.status === 'fulfilled' ? eni : plan.before,
  }));
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`route table ${plans[index]?.routeTableId}: ${describeError(result.reason)}`] : [],
  );
  const mayLandUntil = results.reduce<number | null>((until, result) => {
    if (result.status === 'fulfilled') return laterLanding(until, result.value.mayLandUntil);
    return result.reason instanceof UnansweredRouteWriteError ? laterLanding(until, result.reason.mayLandUntil) : until;
  }, null);
  return { routes, failure: failures.length === 0 ? null : failures.join('; '), mayLandUntil };
}

/** Who runs the address command, for whom, and how long to wait for it. */
export interface AddressTarget {
  nodeAddress: NodeAddress;
  cluster: ClusterConfig;
  requestId: string;
  instanceId: string;
  waitMs: number;
}

/** Runs the document on the sender and waits (bounded) for it, so the outcome tells the truth. */
export async function changeAddress(target: AddressTarget, action: Exclude<AddressAction, 'check'>): Promise<AddressChange> {
  const { nodeAddress, cluster, instanceId } = target;
  const instanceIds = [instanceId];
  let commandId: string;
  try {
    commandId = await nodeAddress.send({
      document: cluster.ssmDocument,
      action,
      vip: cluster.vip,
      iface: cluster.interface,
      instanceIds,
      comment: `pgpool-vip ${action} ${cluster.vip} request ${target.requestId}`,
    });
  } catch (error) {
    return {
      report: { purpose: action, commandId: 'none', instanceIds, status: 'SendFailed' },
      failure: `SSM SendCommand (${action}) to ${instanceId} failed: ${describeError(error)}`,
    };
  }
  try {
    const result = await nodeAddress.wait({ commandId, instanceId, timeoutMs: target.waitMs });
    const report = { purpose: action, commandId, instanceIds, status: result.status };
    if (result.succeeded) return { report, failure: null };
    return {
      report,
      failure: result.finished
        ? `SSM command ${commandId} (${action}) on ${instanceId} ended ${result.status}: ${result.detail}`
        : `SSM command ${commandId} (${action}) on ${instanceId} did not finish within ${Math.round(target.waitMs / 1000)} s (last status ${result.status})`,
    };
  } catch (error) {
    return {
      report: { purpose: action, commandId, instanceIds, status: 'Unknown' },
      failure: `SSM GetCommandInvocation for ${commandId} failed: ${describeError(error)}`,
    };
  }
}

/** The VIP on the sender's interface: the SSM commands it took (none, or one) and why it failed. */
export interface SenderAddress {
  reports: SsmCommandReport[];
  failure: string | null;
}

/** The sender's agent put the VIP on its interface itself (the request says `localAddress`): no SSM add. */
export const ADDED_BY_AGENT: SenderAddress = Object.freeze({ reports: [], failure: null });

/** The VIP added to the sender's interface through SSM, as when its agent cannot do it itself. */
export async function addToSender(target: AddressTarget): Promise<SenderAddress> {
  const added = await changeAddress(target, 'add');
  return { reports: [added.report], failure: added.failure };
}

/** The running members other than the sender: the ones that must drop the VIP. */
export function othersToFence(members: Member[], sender: string): string[] {
  return members.filter((member) => member.instanceId !== sender && member.state === 'running').map((member) => member.instanceId);
}

/**
 * Fencing: the given members drop the VIP. Sent, not awaited: a dead old leader never answers,
 * and must not hold up the new one. A send failure is reported, not fatal.
 */
export async function fence(
  target: { nodeAddress: NodeAddress; cluster: ClusterConfig; requestId: string },
  instanceIds: string[],
): Promise<SsmCommandReport> {
  try {
    const commandId = await target.nodeAddress.send({
      document: target.cluster.ssmDocument,
      action: 'remove',
      vip: target.cluster.vip,
      iface: target.cluster.interface,
      instanceIds,
      comment: `pgpool-vip fence ${target.cluster.vip} request ${target.requestId}`,
    });
    return { purpose: 'remove', commandId, instanceIds, status: 'Sent' };
  } catch (error) {
    return { purpose: 'remove', commandId: 'none', instanceIds, status: `SendFailed: ${describeError(error)}`.slice(0, 200) };
  }
}
