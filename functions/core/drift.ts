import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { VipRecord } from '../../lib/ledger-records.ts';
import type { InterfaceFinding, Member, VipRoute } from './model.ts';

/** Ways a cluster's VIP can differ from what the ledger says (docs/audit.md). */
export const DRIFT_KINDS = [
  'no-holder-recorded',
  'holder-released',
  'route-missing',
  'route-blackhole',
  'route-elsewhere',
  'table-not-in-config',
  'holder-not-running',
  'holder-eni-detached',
  'vip-not-on-interface',
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** Kinds the reconciler may repair, and only by pointing the route back at the ledger's holder. */
export const HEALABLE_KINDS: ReadonlySet<DriftKind> = new Set(['route-missing', 'route-blackhole', 'route-elsewhere']);

/** One difference between the ledger and the network. */
export interface Drift {
  kind: DriftKind;
  /** The route table concerned, or null for a drift of the holder. */
  routeTableId: string | null;
  expected: string | null;
  found: string | null;
  reason: string;
}

/** What the reconciler learnt about the ledger's holder; `interface` is `not-checked` when the check is off or not due. */
export interface HolderFacts {
  instance: Member | null;
  vipOnInterface: InterfaceFinding | 'not-checked';
}

/**
 * Compares the ledger's VIP record with the VIP/32 routes seen (configured tables, plus any other
 * table of the VPC that has one) and with the holder's state. Pure: no AWS call.
 */
export function findDrift(
  cluster: ClusterConfig,
  vip: VipRecord | null,
  routes: readonly VipRoute[],
  holder: HolderFacts | null,
): Drift[] {
  const drifts: Drift[] = [];
  const configured = new Set(cluster.routeTables);
  for (const route of routes) {
    if (configured.has(route.routeTableId) || route.target === null) continue;
    drifts.push({
      kind: 'table-not-in-config',
      routeTableId: route.routeTableId,
      expected: null,
      found: route.target,
      reason: `${route.routeTableId} routes ${cluster.vip}/32 to ${route.target} but is not a route table of cluster "${cluster.name}"`,
    });
  }
  if (vip === null) {
    drifts.unshift({
      kind: 'no-holder-recorded',
      routeTableId: null,
      expected: 'a holder',
      found: null,
      reason: `the ledger has no holder for cluster "${cluster.name}" (no up was ever applied)`,
    });
    return drifts;
  }

  const expected = vip.holderEni;
  for (const routeTableId of cluster.routeTables) {
    const route = routes.find((candidate) => candidate.routeTableId === routeTableId);
    const target = route?.target ?? null;
    if (target === null) {
      drifts.push({ kind: 'route-missing', routeTableId, expected, found: null, reason: `${routeTableId} has no route for ${cluster.vip}/32` });
    } else if (route?.state === 'blackhole') {
      drifts.push({ kind: 'route-blackhole', routeTableId, expected, found: target, reason: `${routeTableId} routes ${cluster.vip}/32 to ${target}, which is a blackhole` });
    } else if (target !== expected) {
      drifts.push({ kind: 'route-elsewhere', routeTableId, expected, found: target, reason: `${routeTableId} routes ${cluster.vip}/32 to ${target}, not to the holder's ${expected}` });
    }
  }

  if (vip.released) {
    // A released VIP is held by nobody: the holder's state no longer matters.
    drifts.unshift({
      kind: 'holder-released',
      routeTableId: null,
      expected: 'a holder',
      found: `released by ${vip.holderInstanceId} at ${vip.releasedAt ?? 'unknown time'}`,
      reason: `${vip.holderInstanceId} released the VIP and no member took it since`,
    });
    return drifts;
  }

  const instance = holder?.instance ?? null;
  if (instance === null || instance.state !== 'running') {
    const state = instance?.state ?? 'absent';
    drifts.push({ kind: 'holder-not-running', routeTableId: null, expected: 'running', found: state, reason: `holder ${vip.holderInstanceId} is ${state}` });
    return drifts;
  }
  const attached = instance.interfaces.filter((eni) => eni.attached).map((eni) => eni.eni);
  if (!attached.includes(vip.holderEni)) {
    drifts.push({
      kind: 'holder-eni-detached',
      routeTableId: null,
      expected: vip.holderEni,
      found: attached.length === 0 ? null : attached.join(','),
      reason: `${vip.holderEni} is no longer attached to holder ${vip.holderInstanceId}`,
    });
  }
  if (holder?.vipOnInterface === 'absent') {
    drifts.push({
      kind: 'vip-not-on-interface',
      routeTableId: null,
      expected: 'present',
      found: 'absent',
      reason: `${cluster.vip} is not on ${cluster.interface} of holder ${vip.holderInstanceId}`,
    });
  }
  return drifts;
}

/** Whether the route drifts may be repaired now, and if not, why not. */
export type HealDecision = { heal: true; eni: string } | { heal: false; why: string };

/**
 * Healing points routes back at the ledger's holder, and only when the cluster opted in and that
 * holder is running with its ENI attached: a route is never moved to a node that cannot serve.
 */
export function healDecision(cluster: ClusterConfig, vip: VipRecord | null, drifts: readonly Drift[]): HealDecision {
  if (!cluster.heal) return { heal: false, why: 'heal is off for this cluster' };
  if (vip === null) return { heal: false, why: 'no holder recorded' };
  if (vip.released) return { heal: false, why: 'the holder released the VIP' };
  const blocking = drifts.find((drift) => drift.kind === 'holder-not-running' || drift.kind === 'holder-eni-detached');
  if (blocking !== undefined) return { heal: false, why: blocking.reason };
  return { heal: true, eni: vip.holderEni };
}
