import type { HeldClaim, MemberClaim, VipRecord } from '../../lib/ledger-records.ts';
import type { RoutePlan, SwitchoverRequest, VipRoute } from './model.ts';

export type { RoutePlan, SwitchoverRequest } from './model.ts';

/** Facts beyond the ledger that the split-brain guard needs. */
export interface DecisionContext {
  /** Whether the ledger's holder is a running member right now. */
  holderRunning: boolean;
  /**
   * Whether an instance is a running member with that ENI attached: the VIP is handed only to a
   * node that can serve it. Without it, nothing is handed over.
   */
  canServe?: (instanceId: string, eni: string) => boolean;
}

/** The node a releasing holder hands the VIP to, and the route plans for its ENI. */
export interface Handoff {
  claim: HeldClaim;
  routes: RoutePlan[];
}

/** What to do about one request; computed without any AWS call. */
export type SwitchoverPlan =
  | {
      kind: 'stale';
      reason: string;
      /** A held re-acquire: the ledger remembers it, so that the VIP can be handed to it later. */
      held?: HeldClaim;
    }
  | {
      kind: 'up';
      outcome: 'applied' | 'noop';
      routes: RoutePlan[];
    }
  | {
      kind: 'down';
      outcome: 'applied' | 'noop';
      /** The sender held the VIP: record the release (the route stays where it is). */
      release: boolean;
      /** The sender is the instance the holder displaced: it stopped claiming to lead, lift the hold. */
      endsDisplacement: boolean;
      /** The releasing holder's VIP goes to the node whose re-acquire was held; null otherwise. */
      handoff: Handoff | null;
    };

/**
 * Decides from the ledger's VIP record and the live routes (docs/design.md, Leadership). Rules:
 * - requests of one member are ordered by that member's own issuedAt: an `up` issued before the
 *   member's latest applied `up` or latest `down` is stale, unless the member still holds the VIP
 *   on the same ENI by that later `up` (pgpool can run two if_up_cmds a few ms apart, an escalation
 *   and a re-acquire, and the bus may deliver them in either order: the earlier one wants what
 *   stands, and failing it would fail the real leader's if_up_cmd); node clocks are never compared
 *   with each other;
 * - across members the ledger's order rules: an `up` decided later takes the VIP from the holder;
 * - except a re-acquire that continues a displaced claim: an `up` from the instance the holder
 *   displaced, run by pgpool's watchdog itself (no escalation process: the VIP vanished from its
 *   interface while it believes it leads) from the same watchdog process that held the VIP when it
 *   was displaced, while the holder runs and has not released the VIP and the displaced instance
 *   has sent no `down` since, is stale. It is the isolated old leader reacting to its own fencing;
 *   without this the route would ping-pong between two nodes that both believe they lead. An `up`
 *   from a new escalation (an election won) or from a restarted pgpool is never held;
 * - `up` points VIP/32 at the sender's ENI in every table: create, replace, or keep;
 * - `down` takes the VIP off the sender's interface, and records a release when the sender is the
 *   holder; a `down` from an earlier term of the holder is stale. It touches no route, except to
 *   hand the VIP over: when the holder releases while the node it displaced still claims to lead
 *   (its re-acquire was held, it sent no `down` since, it runs with that ENI), the VIP goes to that
 *   node. pgpool's split-brain resolution may keep the isolated old leader after the heal, and
 *   that leader never runs if_up_cmd again: without the hand-over the VIP would be on no node.
 */
export function decide(
  request: SwitchoverRequest,
  vip: VipRecord | null,
  routes: VipRoute[],
  context: DecisionContext,
): SwitchoverPlan {
  const own = ownClaim(vip, request.instanceId);
  const issued = Date.parse(request.issuedAt);

  if (request.action === 'up') {
    const later = [
      { what: 'up', at: own.upIssuedAt },
      { what: 'down', at: own.downIssuedAt },
    ].find((earlier) => earlier.at !== null && issued < Date.parse(earlier.at));
    if (later !== undefined && !heldSinceOwnLaterUp(request, vip)) {
      return {
        kind: 'stale',
        reason: `request issued at ${request.issuedAt} is older than this instance's own later ${later.what} (issued at ${later.at})`,
      };
    }
    if (vip !== null && continuesDisplacedClaim(request, vip, own) && context.holderRunning) {
      return {
        kind: 'stale',
        reason: `${request.instanceId} lost the VIP to ${vip.holderInstanceId} at ${vip.displacedAt ?? 'an earlier up'} and is re-acquiring it in the same leadership (same pgpool watchdog, no new escalation): two nodes claim to lead; it may take the VIP again with a new escalation, after a restart of pgpool, once it sent a down, or once ${vip.holderInstanceId} stopped running; if ${vip.holderInstanceId} releases the VIP first, it is handed to ${request.instanceId}`,
        held: {
          instanceId: request.instanceId,
          eni: request.eni,
          issuedAt: request.issuedAt,
          requestId: request.requestId,
          incarnation: request.incarnation ?? null,
        },
      };
    }
    const plans = routePlansFor(request.eni, routes);
    const holderChanges = vip === null || vip.holderInstanceId !== request.instanceId || vip.holderEni !== request.eni || vip.released;
    const outcome = holderChanges || plans.some((plan) => plan.change !== 'keep') ? 'applied' : 'noop';
    return { kind: 'up', outcome, routes: plans };
  }

  const senderHolds = vip !== null && vip.holderInstanceId === request.instanceId;
  if (senderHolds && issued < Date.parse(vip.upIssuedAt)) {
    return {
      kind: 'stale',
      reason: `down issued at ${request.issuedAt} predates this instance's current hold of the VIP (since ${vip.upIssuedAt})`,
    };
  }
  const release = senderHolds && !vip.released;
  const endsDisplacement = !senderHolds && vip?.displacedInstanceId === request.instanceId;
  const claimant = release ? stillClaiming(vip, context) : null;
  const handoff = claimant === null ? null : { claim: claimant, routes: routePlansFor(claimant.eni, routes) };
  return { kind: 'down', outcome: release ? 'applied' : 'noop', release, endsDisplacement, handoff };
}

/**
 * The held re-acquire of the node the holder displaced, when that node still claims to lead: it
 * is still the displaced node (a `down` of its own clears that), it sent no `down` after the
 * held request, and it runs with the ENI it asked for.
 */
function stillClaiming(vip: VipRecord, context: DecisionContext): HeldClaim | null {
  const held = vip.heldClaim ?? null;
  if (held === null || context.canServe === undefined) return null;
  if (vip.displacedInstanceId !== held.instanceId || held.instanceId === vip.holderInstanceId) return null;
  const resigned = ownClaim(vip, held.instanceId).downIssuedAt;
  if (resigned !== null && Date.parse(resigned) >= Date.parse(held.issuedAt)) return null;
  return context.canServe(held.instanceId, held.eni) ? held : null;
}

/**
 * True when the sender holds the VIP on the request's ENI, not released, by an `up` of its own
 * issued after this request: the request asks for what already stands, so it converges (routes
 * kept or put back on the holder) instead of being refused.
 */
function heldSinceOwnLaterUp(request: SwitchoverRequest, vip: VipRecord | null): boolean {
  return (
    vip !== null &&
    !vip.released &&
    vip.holderInstanceId === request.instanceId &&
    vip.holderEni === request.eni &&
    Date.parse(request.issuedAt) < Date.parse(vip.upIssuedAt)
  );
}

const NO_CLAIM: MemberClaim = { upIssuedAt: null, upIncarnation: null, downIssuedAt: null };

/** What the ledger knows of one member's own requests, including from records that predate `members`. */
export function ownClaim(vip: VipRecord | null, instanceId: string): MemberClaim {
  if (vip === null) return NO_CLAIM;
  const recorded = vip.members?.[instanceId];
  if (recorded !== undefined) return recorded;
  if (vip.holderInstanceId !== instanceId) return NO_CLAIM;
  return { upIssuedAt: vip.upIssuedAt, upIncarnation: null, downIssuedAt: vip.released ? (vip.releasedAt ?? null) : null };
}

/**
 * True when the request is the displaced instance re-acquiring the VIP within the leadership the
 * holder's `up` superseded: no escalation process, and the same watchdog process (same boot) as
 * the `up` that last made it holder. Without an incarnation on both sides it cannot be told, and
 * the request is not held (a refused real leader keeps no VIP until the next election).
 */
function continuesDisplacedClaim(request: SwitchoverRequest, vip: VipRecord, own: MemberClaim): boolean {
  if (vip.released || vip.holderInstanceId === request.instanceId || vip.displacedInstanceId !== request.instanceId) return false;
  const now = request.incarnation;
  const then = own.upIncarnation;
  if (now === undefined || then === null) return false;
  return now.escalation === null && now.bootId === then.bootId && now.watchdog === then.watchdog;
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
  if (plan.kind === 'stale') {
    // A held re-acquire is remembered, so that a release can hand it the VIP; nothing else changes.
    if (plan.held === undefined || current === null) return null;
    return { ...current, heldClaim: plan.held, version, updatedAt: now.toISOString() };
  }
  if (plan.kind === 'up') {
    // An earlier up of the holder's own, converging on the hold its later up made: the record
    // already says all there is (writing it would move the holder's up back in time).
    if (heldSinceOwnLaterUp(request, current)) return null;
    const sameHolder = current !== null && current.holderInstanceId === request.instanceId;
    const displaces = current !== null && !sameHolder && !current.released;
    const members = withClaim(current, request.instanceId, {
      ...ownClaim(current, request.instanceId),
      upIssuedAt: request.issuedAt,
      upIncarnation: request.incarnation ?? null,
    });
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
      heldClaim: sameHolder ? (current.heldClaim ?? null) : null,
      members,
      version,
      updatedAt: now.toISOString(),
    };
  }
  if (current === null) return null;
  // Every down is remembered (even one that changes nothing else): a delayed up the member
  // issued before it must not take the VIP back.
  const members = withClaim(current, request.instanceId, { ...ownClaim(current, request.instanceId), downIssuedAt: request.issuedAt });
  const base = { ...current, members, version, updatedAt: now.toISOString() };
  if (plan.handoff !== null) {
    // The claimant becomes holder by the up that was held: its own issuedAt and incarnation.
    const { claim } = plan.handoff;
    return {
      ...base,
      holderInstanceId: claim.instanceId,
      holderEni: claim.eni,
      upIssuedAt: claim.issuedAt,
      upRequestId: claim.requestId,
      released: false,
      releasedAt: null,
      displacedInstanceId: null,
      displacedAt: null,
      heldClaim: null,
      members: { ...members, [claim.instanceId]: { ...ownClaim(current, claim.instanceId), upIssuedAt: claim.issuedAt, upIncarnation: claim.incarnation } },
    };
  }
  if (plan.release) return { ...base, released: true, releasedAt: request.issuedAt };
  if (plan.endsDisplacement) return { ...base, displacedInstanceId: null, displacedAt: null, heldClaim: null };
  return base;
}

/**
 * The record's member claims with one member's replaced. A record written before `members` existed
 * seeds its holder's claim from the holder fields, so nothing known is lost.
 */
function withClaim(current: VipRecord | null, instanceId: string, claim: MemberClaim): Record<string, MemberClaim> {
  const members: Record<string, MemberClaim> = { ...(current?.members ?? {}) };
  if (current !== null && members[current.holderInstanceId] === undefined) {
    members[current.holderInstanceId] = ownClaim(current, current.holderInstanceId);
  }
  members[instanceId] = claim;
  return members;
}
