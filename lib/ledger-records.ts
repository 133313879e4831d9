import { z } from 'zod';
import { IncarnationSchema, OUTCOME_KINDS } from './contract.ts';

/**
 * The ledger is one DynamoDB table keyed by `pk`. Two kinds of item live in it:
 * - `request#<requestId>`: one per request (claim = replay protection, the outcome the agent
 *   waits for, the audit history queried through the `byCluster` index on cluster+recordedAt);
 * - `vip#<cluster>`: the VIP's holder and the issuedAt of the `up` that made it holder,
 *   updated only with a conditional write on `version`.
 */
export const LEDGER_PARTITION_KEY = 'pk';
export const LEDGER_HISTORY_INDEX = 'byCluster';

export const requestKey = (requestId: string): string => `request#${requestId}`;
export const vipKey = (cluster: string): string => `vip#${cluster}`;

export const REQUEST_STATUSES = ['claimed', ...OUTCOME_KINDS] as const;

const RouteReportSchema = z.object({
  routeTableId: z.string(),
  before: z.string().nullable(),
  after: z.string().nullable(),
  change: z.enum(['create', 'replace', 'keep']),
});

const SsmCommandReportSchema = z.object({
  purpose: z.enum(['add', 'remove']),
  commandId: z.string(),
  instanceIds: z.array(z.string()),
  status: z.string(),
});
export type SsmCommandReport = z.infer<typeof SsmCommandReportSchema>;

/** A request item as stored; fields after `status` exist once an outcome is recorded. */
export const RequestRecordSchema = z.object({
  pk: z.string(),
  requestId: z.string(),
  cluster: z.string(),
  vip: z.string().nullable().optional(),
  action: z.enum(['up', 'down']).nullable().optional(),
  instanceId: z.string().nullable().optional(),
  status: z.enum(REQUEST_STATUSES),
  reason: z.string().nullable().optional(),
  failedStep: z.string().nullable().optional(),
  digest: z.string().nullable().optional(),
  callerArn: z.string().nullable().optional(),
  issuedAt: z.string().nullable().optional(),
  claimedAt: z.string().optional(),
  claimToken: z.string().optional(),
  /**
   * The claim token of the attempt that had, by then, pointed every route table at the sender of
   * an `up` and found no newer request for the VIP: set while the request is still `claimed`
   * (SSM may still be at work), and only counted when it equals `claimToken`. The agent ends
   * its `up` on it once the VIP is on its interface; the outcome record replaces it.
   */
  routedClaim: z.string().optional(),
  recordedAt: z.string().optional(),
  attempts: z.number().optional(),
  holderBefore: z.string().nullable().optional(),
  holderAfter: z.string().nullable().optional(),
  routes: z.array(RouteReportSchema).optional(),
  ssmCommands: z.array(SsmCommandReportSchema).optional(),
  durationMs: z.number().optional(),
  /** A dry run: nothing was changed; `routes`, `ssmCommands` and `holderAfter` are the plan. */
  dryRun: z.boolean().optional(),
  /** Written by the operator's break-glass command, not by the controller (docs/operations.md). */
  breakGlass: z.boolean().optional(),
  ttl: z.number(),
});
export type RequestRecord = z.infer<typeof RequestRecordSchema>;

/**
 * What the ledger remembers of one member's own requests. Times are the member's own issuedAt,
 * so they are only ever compared with that member's other requests (never across node clocks).
 */
export const MemberClaimSchema = z.object({
  /** issuedAt of the member's latest `up` that was applied (or found already in place). */
  upIssuedAt: z.string().nullable(),
  /** The incarnation that `up` carried; null when it carried none. */
  upIncarnation: IncarnationSchema.nullable(),
  /** issuedAt of the member's latest `down`. */
  downIssuedAt: z.string().nullable(),
});
export type MemberClaim = z.infer<typeof MemberClaimSchema>;

/**
 * The displaced node's re-acquire that was held (refused) while another node held the VIP. That
 * node still claims to lead; if the holder releases the VIP before it sends a `down`, the VIP is
 * handed to it (pgpool never re-runs the if_up_cmd it failed).
 */
export const HeldClaimSchema = z.object({
  instanceId: z.string(),
  eni: z.string(),
  /** The held request's own issuedAt (the claimant's clock) and id. */
  issuedAt: z.string(),
  requestId: z.string(),
  incarnation: IncarnationSchema.nullable(),
});
export type HeldClaim = z.infer<typeof HeldClaimSchema>;

/** The VIP item: who holds the VIP according to the last applied `up`. */
export const VipRecordSchema = z.object({
  pk: z.string(),
  cluster: z.string(),
  vip: z.string(),
  holderInstanceId: z.string(),
  holderEni: z.string(),
  upIssuedAt: z.string(),
  upRequestId: z.string(),
  released: z.boolean(),
  releasedAt: z.string().nullable().optional(),
  /** The holder this holder took the VIP from, and when: it may not take the VIP straight back. */
  displacedInstanceId: z.string().nullable().optional(),
  displacedAt: z.string().nullable().optional(),
  /** The displaced node's held re-acquire, while it may still be handed the VIP (see HeldClaimSchema). */
  heldClaim: HeldClaimSchema.nullable().optional(),
  /** Per member instance id: its latest up and down (absent in records written before it existed). */
  members: z.record(z.string(), MemberClaimSchema).optional(),
  version: z.number().int().nonnegative(),
  updatedAt: z.string(),
});
export type VipRecord = z.infer<typeof VipRecordSchema>;
