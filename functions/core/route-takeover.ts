import type { VipRecord } from '../../lib/ledger-records.ts';
import type { SwitchoverPlan } from './decide.ts';

/**
 * An `up` plan as it must be carried out when the VIP changes hands. Its route plans were made
 * from routes read before this request's VIP record write, and the request that wrote the record
 * before ours may still have route writes in flight (a throttled call being retried, say). A
 * table read as already pointing at our sender can be overwritten by such a late write after our
 * read; so when the holder changes every table is written: our writes then come after our record
 * write, and a late write of the displaced request is undone by its own check for a newer holder
 * (it converges to ours). While the holder stays the same, a table that points at it is kept.
 */
export function routesForTakeover(plan: SwitchoverPlan, previous: VipRecord | null, senderInstanceId: string): SwitchoverPlan {
  if (plan.kind !== 'up') return plan;
  const holderStays = previous !== null && !previous.released && previous.holderInstanceId === senderInstanceId;
  if (holderStays) return plan;
  return { ...plan, routes: plan.routes.map((route) => (route.change === 'keep' ? { ...route, change: 'replace' } : route)) };
}
