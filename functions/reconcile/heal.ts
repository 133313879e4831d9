import type { Logger } from '@aws-lambda-powertools/logger';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import { describeError } from '../../lib/errors.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import { rewriteRoutes } from '../core/act.ts';
import { routePlansFor } from '../core/decide.ts';
import type { Drift } from '../core/drift.ts';
import type { ReconcilePorts } from '../core/ports.ts';

/** Per route table: whether its drift was repaired, and if not, why. */
export interface HealResult {
  healed: boolean;
  note: string | null;
}
export type HealResults = Map<string, HealResult>;

/**
 * Points the drifted routes back at the holder the ledger recorded when the check began. A
 * switchover may start at any moment, so the ledger is read again before writing (changed: leave
 * it to the controller) and after (changed: the newer holder's routes must win, so converge to it).
 */
export async function healRoutes(
  deps: { ports: ReconcilePorts; logger: Logger },
  cluster: ClusterConfig,
  observed: VipRecord,
  drifts: readonly Drift[],
): Promise<HealResults> {
  const results: HealResults = new Map<string, HealResult>();
  const tables = drifts.flatMap((drift) => (drift.routeTableId === null ? [] : [{ routeTableId: drift.routeTableId, exists: drift.found !== null }]));
  const before = await deps.ports.ledger.readVip(cluster.name);
  if (before === null || before.version !== observed.version) {
    for (const { routeTableId } of tables) {
      results.set(routeTableId, { healed: false, note: 'the ledger changed during the check (a switchover is in flight); left to the controller' });
    }
    return results;
  }
  const written = await Promise.allSettled(
    tables.map(({ routeTableId, exists }) => deps.ports.routeTables.pointVipRoute({ routeTableId, vip: cluster.vip, eni: observed.holderEni, exists })),
  );
  written.forEach((result, index) => {
    const table = tables[index];
    if (table === undefined) return;
    results.set(
      table.routeTableId,
      result.status === 'fulfilled' ? { healed: true, note: null } : { healed: false, note: `route write failed: ${describeError(result.reason)}` },
    );
  });

  const after = await deps.ports.ledger.readVip(cluster.name);
  if (after !== null && after.version !== observed.version && !after.released) {
    // A switchover recorded a new holder while we wrote: whatever we wrote must not stand.
    const routes = await deps.ports.routeTables.readVipRoutes(cluster.routeTables, cluster.vip);
    await rewriteRoutes(deps.ports.routeTables, cluster.vip, after.holderEni, routePlansFor(after.holderEni, routes));
    deps.logger.warn('heal overtaken by a switchover; routes converged to the newer holder', {
      cluster: cluster.name,
      holder: after.holderInstanceId,
      eni: after.holderEni,
    });
    for (const { routeTableId } of tables) {
      results.set(routeTableId, { healed: false, note: `overtaken by the switchover to ${after.holderInstanceId}; routes converged to it` });
    }
  }
  return results;
}
