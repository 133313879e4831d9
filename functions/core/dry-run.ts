import type { RouteReport } from '../../lib/contract.ts';
import type { SsmCommandReport } from '../../lib/ledger-records.ts';
import { othersToFence } from './act.ts';
import type { SwitchoverPlan } from './decide.ts';
import type { Member } from './model.ts';

/** `status` of an SSM command a dry run reports and did not send; `commandId` is `none`. */
export const DRY_RUN_SSM_STATUS = 'NotSent';

/** What a dry run reports in place of what `act` would have done, and how it would have ended. */
export interface DryRunReport {
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  outcome: 'applied' | 'noop' | 'stale';
  reason: string | null;
}

/**
 * The plan of a decided request as the real run would carry it out, sending nothing: per table
 * the route it would create, replace or keep; the SSM commands it would send (add the VIP on the
 * sender and fence every other running member for an `up`; remove it from the sender for a
 * `down`, and add it on the node a releasing holder hands it to). A stale plan changes nothing,
 * so its report is empty.
 */
export function dryRunReport(plan: SwitchoverPlan, members: Member[], sender: { instanceId: string; eni: string }): DryRunReport {
  const notSent = (purpose: SsmCommandReport['purpose'], instanceIds: string[]): SsmCommandReport => ({
    purpose,
    commandId: 'none',
    instanceIds,
    status: DRY_RUN_SSM_STATUS,
  });
  if (plan.kind === 'stale') return { routes: [], ssmCommands: [], outcome: 'stale', reason: plan.reason };
  if (plan.kind === 'down') {
    if (plan.handoff === null) return { routes: [], ssmCommands: [notSent('remove', [sender.instanceId])], outcome: plan.outcome, reason: null };
    // The releasing holder's VIP goes to the node whose re-acquire was held, as the real run does.
    const { claim, routes } = plan.handoff;
    return {
      routes: routes.map((route) => ({ ...route, after: claim.eni })),
      ssmCommands: [notSent('remove', [sender.instanceId]), notSent('add', [claim.instanceId])],
      outcome: 'applied',
      reason: `would hand the VIP to ${claim.instanceId}, whose re-acquire ${claim.requestId} was held while ${sender.instanceId} held it`,
    };
  }
  const others = othersToFence(members, sender.instanceId);
  return {
    routes: plan.routes.map((route) => ({ ...route, after: sender.eni })),
    ssmCommands: [notSent('add', [sender.instanceId]), ...(others.length === 0 ? [] : [notSent('remove', others)])],
    outcome: plan.outcome,
    reason: null,
  };
}
