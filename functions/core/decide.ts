import type { RouteReport, SwitchoverAction } from '../../lib/contract.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import type { VipRoute } from '../adapters/ec2-routes.ts';

/** The parts of a verified request that a decision depends on. */
export interface SwitchoverRequest {
  requestId: string;
  action: SwitchoverAction;
  instanceId: string;
  eni: string;
  issuedAt: string;
}

export type RoutePlan = Omit<RouteReport, 'after'>;

/** Facts beyond the ledger that the split-brain guard needs. */
export interface DecisionContext {
  now: Date;
  /** Whether the ledger's holder is a running member right now. */
  holderRunning: boolean;
  displacedHoldSeconds: number;
}

/** What to do about one request; computed without any AWS call. */
export type SwitchoverPlan =
  | { kind: 'stale'; reason: string; holderBefore: string | null }
  | {
      kind: 'up';
      outcome: 'applied' | 'noop';
      holderBefore: string | null;
      routes: RoutePlan[];
    }
  | {
      kind: 'down';
      outcome: 'applied' | 'noop';
      holderBefore: string | null;
      /** The sender held the VIP: record the release (the route stays where it is). */
      release: boolean;
      /** The sender is the instance the holder displaced: it stopped claiming to lead, lift the hold. */
      endsDisplacement: boolean;
    };

/**
 * Decides from the ledger's VIP record and the live routes. Rules:
 * - an `up` older than the `up` that made the current holder is stale and changes nothing;
 * - an `up` from the instance the holder displaced is stale for `displacedHoldSeconds` after the
 *   displacement, while the holder runs and has not released the VIP and the displaced instance has
 *   not sent a `down` since: during a partition both nodes believe they lead, and each fencing makes
 *   the other's pgpool re-run if_up_cmd at once, so the route would ping-pong between them;
 * - `up` points VIP/32 at the sender's ENI in every table: create, replace, or keep;
 * - `down` never touches a route: it only takes the VIP off the sender's interface, and records
 *   a release when the sender is the holder; a `down` from an earlier term of the holder is stale.
 */
export function decide(
  request: SwitchoverRequest,
  vip: VipRecord | null,
  routes: VipRoute[],
  context: DecisionContext,
): SwitchoverPlan {
  const holderBefore = vip?.holderInstanceId ?? null;
  const olderThanHolder = vip !== null && Date.parse(request.issuedAt) < Date.parse(vip.upIssuedAt);

  if (request.action === 'up') {
    if (olderThanHolder) {
      return {
        kind: 'stale',
        holderBefore,
        reason: `request issued at ${request.issuedAt} is older than the up that made ${vip.holderInstanceId} holder (${vip.upIssuedAt})`,
      };
    }
    const releasedAt = vip?.released === true && vip.holderInstanceId === request.instanceId ? vip.releasedAt : null;
    if (releasedAt && Date.parse(request.issuedAt) < Date.parse(releasedAt)) {
      return {
        kind: 'stale',
        holderBefore,
        reason: `request issued at ${request.issuedAt} is older than this instance's release of the VIP (${releasedAt})`,
      };
    }
    const displacedAt = vip !== null && !vip.released && vip.displacedInstanceId === request.instanceId ? vip.displacedAt : null;
    if (
      displacedAt &&
      vip !== null &&
      vip.holderInstanceId !== request.instanceId &&
      context.holderRunning &&
      context.now.getTime() - Date.parse(displacedAt) < context.displacedHoldSeconds * 1000
    ) {
      return {
        kind: 'stale',
        holderBefore,
        reason: `${request.instanceId} lost the VIP to ${vip.holderInstanceId} at ${displacedAt}; it may take it back once it sent a down, ${vip.holderInstanceId} released the VIP or stopped running, or ${context.displacedHoldSeconds} s after that (two nodes claim to lead)`,
      };
    }
    const plans = routePlansFor(request.eni, routes);
    const holderChanges = vip === null || vip.holderInstanceId !== request.instanceId || vip.holderEni !== request.eni || vip.released;
    const outcome = holderChanges || plans.some((plan) => plan.change !== 'keep') ? 'applied' : 'noop';
    return { kind: 'up', outcome, holderBefore, routes: plans };
  }

  const senderHolds = vip !== null && vip.holderInstanceId === request.instanceId;
  if (senderHolds && olderThanHolder) {
    return {
      kind: 'stale',
      holderBefore,
      reason: `down issued at ${request.issuedAt} predates this instance's current hold of the VIP (since ${vip.upIssuedAt})`,
    };
  }
  const release = senderHolds && !vip.released;
  const endsDisplacement = !senderHolds && vip?.displacedInstanceId === request.instanceId;
  return { kind: 'down', outcome: release ? 'applied' : 'noop', holderBefore, release, endsDisplacement };
}

/** Per table: what it takes to point VIP/32 at `eni` (create, replace a wrong or blackhole route, or keep). */
export function routePlansFor(eni: string, routes: VipRoute[]): RoutePlan[] {
  return routes.map((route) => ({
    routeTableId: route.routeTableId,
    before: route.target,
    change: route.target === null ? 'create' : route.target !== eni || route.state === 'blackhole' ? 'replace' : 'keep',
  }));
}

/** The VIP record to write for a plan, or null when the plan leaves the ledger as it is. */
export function nextVipRecord(
  plan: SwitchoverPlan,
  request: SwitchoverRequest & { cluster: string; vip: string },
  current: VipRecord | null,
  now: Date,
): VipRecord | null {
  const version = (current?.version ?? 0) + 1;
  if (plan.kind === 'up') {
    const sameHolder = current !== null && current.holderInstanceId === request.instanceId;
    const displaces = current !== null && !sameHolder && !current.released;
    return {
      pk: `vip#${request.cluster}`,
      cluster: request.cluster,
      vip: request.vip,
      holderInstanceId: request.instanceId,
      holderEni: request.eni,
      upIssuedAt: request.issuedAt,
      upRequestId: request.requestId,
      released: false,
      releasedAt: null,
      displacedInstanceId: displaces ? current.holderInstanceId : sameHolder ? (current.displacedInstanceId ?? null) : null,
      displacedAt: displaces ? request.issuedAt : sameHolder ? (current.displacedAt ?? null) : null,
      version,
      updatedAt: now.toISOString(),
    };
  }
  if (plan.kind === 'down' && plan.release && current !== null) {
    return { ...current, released: true, releasedAt: request.issuedAt, version, updatedAt: now.toISOString() };
  }
  if (plan.kind === 'down' && plan.endsDisplacement && current !== null) {
    return { ...current, displacedInstanceId: null, displacedAt: null, version, updatedAt: now.toISOString() };
  }
  return null;
}
