import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { RouteReport } from '../../lib/contract.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import { rewriteRoutes } from './act.ts';
import { routePlansFor } from './decide.ts';
import type { VipRoute } from './model.ts';
import type { RouteTables, VipRecordSource } from './ports.ts';

/** Rounds of settling when the ledger moves, or a settling write is itself given up on. */
const SETTLE_ROUNDS = 3;

/** What settling the late route writes found and did. */
export interface Settlement {
  /** The VIP record the tables were pointed at last, or null when the cluster has none. */
  holder: VipRecord | null;
  /** Every table as the settlement left it; `before` is what it found there. */
  routes: RouteReport[];
  /** Whether a table pointed elsewhere than the holder (a late write landed, or a write failed). */
  pointedBack: boolean;
  failure: string | null;
  /** A write given up on may still land after the settlement (past `settleBy`): until then, or null. */
  mayLandUntil: number | null;
}

export interface SettleDeps {
  ledger: VipRecordSource;
  routeTables: RouteTables;
  readRoutes: (cluster: ClusterConfig) => Promise<VipRoute[]>;
}

/**
 * A route write given up on (its answer never came) may still be applied by EC2 after a later
 * attempt succeeded and after the request went on; if a newer switchover moved the route
 * meanwhile, it points a table back at an older holder, and no check of that newer request can
 * see a write that lands after it ended. So the request that gave up waits until the write can no
 * longer land (`mayLandUntil`, at most until `settleBy`), then points every table at the ledger's
 * holder of that moment, whoever it is; the routes follow the ledger, never the other way round.
 * The holder is read again after the writes: a switchover that recorded a newer holder meanwhile
 * gets the tables in another round (its own writes come after its record, so whichever write
 * lands last, the tables end on the newest holder).
 */
export async function settleLateWrites(deps: SettleDeps, cluster: ClusterConfig, mayLandUntil: number, settleBy: number): Promise<Settlement> {
  let until = mayLandUntil;
  let settlement: Settlement = { holder: null, routes: [], pointedBack: false, failure: null, mayLandUntil };
  for (let round = 1; round <= SETTLE_ROUNDS; round += 1) {
    const waitedTo = Math.min(until, settleBy);
    await sleep(waitedTo - Date.now());
    const holder = await deps.ledger.readVip(cluster.name);
    if (holder === null) return { ...settlement, mayLandUntil: until > waitedTo ? until : null };
    const found = await deps.readRoutes(cluster);
    const rewritten = await rewriteRoutes(deps.routeTables, cluster.vip, holder.holderEni, routePlansFor(holder.holderEni, found));
    const after = await deps.ledger.readVip(cluster.name);
    const pointedBack = settlement.pointedBack || rewritten.routes.some((route) => route.change !== 'keep');
    const stillLanding = rewritten.mayLandUntil !== null ? rewritten.mayLandUntil : until > waitedTo ? until : null;
    settlement = { holder, routes: rewritten.routes, pointedBack, failure: rewritten.failure, mayLandUntil: stillLanding };
    const moved = after !== null && after.holderEni !== holder.holderEni;
    if (!moved && rewritten.mayLandUntil === null) return settlement;
    if (Date.now() >= settleBy) return settlement;
    until = rewritten.mayLandUntil ?? Date.now();
  }
  return settlement;
}

const sleep = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms)));
