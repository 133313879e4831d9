import type { Incarnation, RouteReport, SwitchoverAction } from '../../lib/contract.ts';

/**
 * The controller's domain types. The core decides with these; the adapters translate AWS
 * answers into them, so nothing here knows an SDK shape.
 */

/** The parts of a verified request that a decision depends on. */
export interface SwitchoverRequest {
  requestId: string;
  action: SwitchoverAction;
  instanceId: string;
  eni: string;
  issuedAt: string;
  /** Which pgpool process sent it (see docs/design.md, Leadership); absent from older agents. */
  incarnation?: Incarnation | undefined;
}

/** Where a route table sends the VIP today. */
export interface VipRoute {
  routeTableId: string;
  vpcId: string;
  /** ENI id, or `instance:<id>` / `other:<target>` when the route is not to an ENI; null when absent. */
  target: string | null;
  state: 'active' | 'blackhole' | null;
}

/** What one table needs to point VIP/32 at an ENI: create, replace, or keep. */
export type RoutePlan = Omit<RouteReport, 'after'>;

/** What the controller knows about one instance (a member, or the sender before it is one). */
export interface Member {
  instanceId: string;
  state: string;
  vpcId: string | null;
  tags: Record<string, string>;
  interfaces: Array<{ eni: string; deviceIndex: number | null; sourceDestCheck: boolean | null; attached: boolean }>;
}

/** Whether the VIP is on the holder's interface; `unknown` when the node did not answer in time. */
export type InterfaceFinding = 'present' | 'absent' | 'unknown';

export const vipCidr = (vip: string): string => `${vip}/32`;
