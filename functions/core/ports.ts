import type { ClusterConfig } from '../../lib/cluster-config.ts';
import type { OutcomeDetail, Proof } from '../../lib/contract.ts';
import type { RequestRecord, VipRecord } from '../../lib/ledger-records.ts';
import type { InterfaceFinding, Member, VipRoute } from './model.ts';

/**
 * The ports of the controller: what the core asks of the world. The AWS adapters
 * (functions/adapters/) implement them with injected SDK clients; the test kit implements them
 * in memory. The core never sees an SDK type.
 */

/** A claim of a request id: the fields stored, and how long an unfinished claim holds. */
export interface ClaimInput {
  requestId: string;
  cluster: string;
  vip: string;
  action: 'up' | 'down';
  instanceId: string;
  issuedAt: string;
  digest: string;
  callerArn: string;
  now: Date;
  ttl: number;
  /** A claim older than this, never finished (controller died), may be taken again. */
  leaseMs: number;
  /**
   * Unique per invocation: when the SDK retries a claim whose first answer was lost, the retry
   * meets our own claim, and the token tells it is ours, not a duplicate delivery.
   */
  claimToken: string;
  /** Attempts recorded before this one, as last read (a transaction cannot return the count). */
  attemptsBefore?: number;
}

/** The VIP record to write with a claim, if nobody changed it since `expectedVersion` (null: it must not exist). */
export interface VipWrite {
  next: VipRecord;
  expectedVersion: number | null;
}

/**
 * What claiming found: the claim is ours (`attempts` counts this one), or the request was already
 * handled, or (only with a VIP write) the VIP record changed since it was read, and nothing was
 * written: read again and decide again.
 */
export type ClaimResult =
  | { kind: 'claimed'; attempts: number }
  | { kind: 'duplicate'; record: RequestRecord }
  | { kind: 'vip-changed' };

/** The VIP record alone, read strongly consistent: all the reconciler may read of the ledger. */
export interface VipRecordSource {
  /** The VIP's current holder record, or null before the first `up`. */
  readVip(cluster: string): Promise<VipRecord | null>;
}

/** The ledger: request claims and outcomes, and the VIP's holder. */
export interface Ledger extends VipRecordSource {
  /**
   * Claims a request id so each request is acted on once. A request whose last attempt `failed`
   * (same digest) or whose claim lease ran out may be claimed again. With `vipWrite`, the claim and
   * the VIP record are written together or not at all (one round trip, no half-done state).
   */
  claim(input: ClaimInput, vipWrite?: VipWrite): Promise<ClaimResult>;
  readRequest(requestId: string): Promise<RequestRecord | null>;
  /** Writes the VIP record if nobody changed it since `expectedVersion` (null: must not exist); false when another won. */
  writeVip(next: VipRecord, expectedVersion: number | null): Promise<boolean>;
  /**
   * Stores a claimed request's outcome over this attempt's own claim (`record.claimToken`); false
   * when a newer attempt claimed the request since, whose record is left as it is.
   */
  recordOutcome(record: RequestRecord): Promise<boolean>;
  /**
   * Marks a claimed `up` routed (`routedClaim`): every table points at the sender and no newer
   * request took the VIP. Only over this attempt's own claim, while it is still `claimed`; false
   * when that no longer holds.
   */
  markRouted(requestId: string, claimToken: string): Promise<boolean>;
  /** Stores the outcome of a request refused before its claim, unless its id is taken; false when it was. */
  recordUnclaimedOutcome(record: RequestRecord): Promise<boolean>;
}

/** A configured route table that does not exist or cannot be read. */
export class RouteTableNotFoundError extends Error {
  public constructor(
    public readonly routeTableId: string,
    options?: ErrorOptions,
  ) {
    super(`route table ${routeTableId} not found`, options);
    this.name = 'RouteTableNotFoundError';
  }
}

/** The VPC route tables. Routes are created or replaced, never deleted. */
export interface RouteTables {
  /** The VIP/32 route of every given table; RouteTableNotFoundError when one is missing. */
  readVipRoutes(routeTableIds: string[], vip: string): Promise<VipRoute[]>;
  /** Every table of the VPC that has a VIP/32 route, configured or not. */
  readVipRoutesInVpc(vpcId: string, vip: string): Promise<VipRoute[]>;
  /**
   * Points VIP/32 at the ENI: create when `exists` is false, else replace. Resolves when one
   * attempt was answered with success; rejects (with UnansweredRouteWriteError when an attempt
   * went unanswered) when none was.
   */
  pointVipRoute(change: { routeTableId: string; vip: string; eni: string; exists: boolean }): Promise<RouteWriteReceipt>;
}

/**
 * What a route write leaves behind. An attempt given up on before its answer came (a request
 * timeout, a dropped connection, the invocation's deadline) may still be applied by EC2 after a
 * later attempt succeeded, and after a newer switchover moved the route: `mayLandUntil` says until
 * when (ms since the epoch), or is null when every attempt was answered.
 */
export interface RouteWriteReceipt {
  mayLandUntil: number | null;
}

/** A route write that failed after one of its attempts went unanswered: that attempt may still land. */
export class UnansweredRouteWriteError extends Error {
  public constructor(
    cause: unknown,
    public readonly mayLandUntil: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    // The failure reads as EC2's own error: only the late landing is added.
    this.name = cause instanceof Error ? cause.name : 'Error';
  }
}

/** Until when a route write may still land: the later of two, either possibly null. */
export function laterLanding(one: number | null, other: number | null): number | null {
  if (one === null) return other;
  return other === null ? one : Math.max(one, other);
}

/** One instance at a time: all the reconciler needs to know of the members. */
export interface InstanceReader {
  /** One instance by id, or null when EC2 does not know it. */
  describeInstance(instanceId: string): Promise<Member | null>;
}

/** The cluster's instances and their network. */
export interface Members extends InstanceReader {
  /** Every non-terminated instance carrying the tag. */
  listMembers(tag: { key: string; value: string }): Promise<Member[]>;
  /** The IPv4 CIDR blocks of every VPC of the region, by VPC id (one call, whatever the cluster). */
  vpcCidrs(): Promise<Map<string, string[]>>;
  /** Turns the ENI's source/destination check off, so it can receive traffic for the VIP. */
  disableSourceDestCheck(eni: string): Promise<void>;
}

/** `check` changes nothing: it answers `present` or `absent`. */
export type AddressAction = 'add' | 'remove' | 'check';

export interface AddressCommand {
  document: string;
  action: AddressAction;
  vip: string;
  iface: string;
  instanceIds: string[];
  comment?: string;
}

/** Result of waiting for one instance's run of a command. */
export interface InvocationResult {
  status: string;
  finished: boolean;
  succeeded: boolean;
  detail: string;
  /** Standard output of the script (the answer of `check`). */
  output: string;
}

/** The VIP on the nodes' interfaces, through the project's SSM document. */
export interface NodeAddress {
  /** Sends the command; returns its id. */
  send(command: AddressCommand): Promise<string>;
  /** Waits (bounded) for one instance's run of a command. */
  wait(invocation: { commandId: string; instanceId: string; timeoutMs: number; pollMs?: number }): Promise<InvocationResult>;
}

/** STS answered, but not with an identity: the signature or credentials are bad. */
export class ProofRefusedError extends Error {
  public constructor(
    public readonly code: string,
    message: string,
  ) {
    super(`STS refused the proof: ${code}: ${message}`);
    this.name = 'ProofRefusedError';
  }
}

/** STS could not be asked (network, 5xx, timeout): nobody is to blame yet. */
export class StsUnavailableError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StsUnavailableError';
  }
}

/** Who signed a proof: replays it to the controller's own STS endpoint. */
export interface CallerIdentity {
  /** The caller's ARN; ProofRefusedError or StsUnavailableError otherwise. */
  callerArn(proof: Proof): Promise<string>;
}

/** Where outcome events go, so users can route them to SNS, chat or tickets. */
export interface OutcomeBus {
  publish(detail: OutcomeDetail): Promise<void>;
}

/** Asks a holder whether the VIP is on the cluster's interface (changes nothing). */
export type InterfaceProbe = (target: { cluster: ClusterConfig; instanceId: string }) => Promise<InterfaceFinding>;

/** Everything the switchover needs from the world. */
export interface SwitchoverPorts {
  ledger: Ledger;
  routeTables: RouteTables;
  members: Members;
  nodeAddress: NodeAddress;
  callerIdentity: CallerIdentity;
  outcomeBus: OutcomeBus;
}

/** Everything the reconciler needs from the world: it reads the ledger and never writes it. */
export interface ReconcilePorts {
  ledger: VipRecordSource;
  routeTables: RouteTables;
  members: InstanceReader;
}
