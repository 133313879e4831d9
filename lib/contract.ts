import { z } from 'zod';
import { CLUSTER_NAME_PATTERN, INTERFACE_PATTERN, IPV4_PATTERN } from './patterns.ts';

/** The wire contract between the agent on a pgpool node and the controller (docs/design.md). */
export const CONTRACT_VERSION = 1;
export const REQUEST_SOURCE = 'pgpool.vip.agent';
export const REQUEST_DETAIL_TYPE = 'VIP Switchover Requested';
export const OUTCOME_SOURCE = 'pgpool.vip.controller';
export const DEFAULT_BUS_NAME = 'pgpool-vip';
/** The ledger table of the `prod` stage (other stages append `-<stage>`). */
export const DEFAULT_LEDGER_TABLE_NAME = 'pgpool-vip-ledger';

/** Signed header that binds a proof to one request's content. */
export const DIGEST_HEADER = 'x-pgpool-vip-digest';
/** The only body a proof may have: STS GetCallerIdentity. */
export const GET_CALLER_IDENTITY_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

export const OUTCOME_KINDS = ['applied', 'noop', 'stale', 'rejected', 'failed'] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

/** EventBridge detail-type of the outcome event for each outcome kind. */
export const OUTCOME_DETAIL_TYPES = {
  applied: 'VIP Switchover Completed',
  noop: 'VIP Switchover Completed',
  stale: 'VIP Switchover Completed',
  rejected: 'VIP Switchover Rejected',
  failed: 'VIP Switchover Failed',
} as const satisfies Record<OutcomeKind, string>;

export { CLUSTER_NAME_PATTERN, INTERFACE_PATTERN, IPV4_PATTERN };

/** AWS region names: `eu-west-1`, `us-gov-west-1`, `ap-southeast-4`. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const RegionSchema = z.string().regex(REGION_PATTERN, 'must be an AWS region like eu-west-1');
export const Ipv4Schema = z.string().regex(IPV4_PATTERN, 'must be a dotted IPv4 address');
export const InterfaceNameSchema = z
  .string()
  .regex(INTERFACE_PATTERN, 'must be a Linux interface name (letters, digits, _ . -, at most 15)');
export const ClusterNameSchema = z
  .string()
  .regex(CLUSTER_NAME_PATTERN, 'must be 1-63 letters, digits, _ . - starting with a letter or digit');
export const InstanceIdSchema = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id (i-...)');
export const EniIdSchema = z.string().regex(/^eni-[0-9a-f]{8,17}$/, 'must be an ENI id (eni-...)');
export const RouteTableIdSchema = z.string().regex(/^rtb-[0-9a-f]{8,17}$/, 'must be a route table id (rtb-...)');

/** A process as the kernel names it for the life of one boot: `<pid>@<start time in clock ticks since boot>`. */
export const PROCESS_START_PATTERN = /^[1-9]\d{0,9}@\d{1,20}$/;
const ProcessStartSchema = z.string().regex(PROCESS_START_PATTERN, 'must be <pid>@<start time in clock ticks since boot>');

/**
 * Which pgpool claims to lead, and in which claim: read by the agent from its ancestor processes.
 * pgpool's watchdog runs if_up_cmd either from a freshly forked escalation process (the node has
 * just been elected, or found quorum again) or, when the VIP vanished from its interface while it
 * leads, from the watchdog process itself (a re-acquire: it claims to have led all along).
 * - `bootId`: /proc/sys/kernel/random/boot_id; process start times only compare within one boot;
 * - `watchdog`: the pgpool watchdog process; it changes whenever pgpool (or its watchdog) restarts;
 * - `escalation`: the (de-)escalation process that runs this command, or null for a re-acquire.
 */
export const IncarnationSchema = z
  .object({
    bootId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a boot id (lowercase UUID)'),
    watchdog: ProcessStartSchema,
    escalation: ProcessStartSchema.nullable(),
  })
  .strict();
export type Incarnation = z.infer<typeof IncarnationSchema>;

/**
 * The proof that the sender is the instance it names: a SigV4-signed STS GetCallerIdentity
 * POST. Only headers and body travel; the controller chooses where to send it.
 */
export const PROOF_MAX_HEADERS = 16;
/** A session token is the longest header a proof carries (about 1-2 KB); the rest are short. */
export const PROOF_HEADER_MAX_CHARS = 4096;
export const ProofSchema = z
  .object({
    headers: z
      .record(
        z.string().regex(/^[a-z0-9-]{1,64}$/, 'header names must be 1-64 lower-case letters, digits or -'),
        z.string().max(PROOF_HEADER_MAX_CHARS, `each header is at most ${PROOF_HEADER_MAX_CHARS} characters`),
      )
      .refine((headers) => Object.keys(headers).length <= PROOF_MAX_HEADERS, {
        message: `at most ${PROOF_MAX_HEADERS} headers`,
      }),
    body: z.string().max(256),
  })
  .strict();
export type Proof = z.infer<typeof ProofSchema>;

/**
 * `detail` of a `VIP Switchover Requested` event, e.g.
 * {"version":1,"action":"up","cluster":"main","vip":"198.19.0.50","instanceId":"i-0a632a8349b701357",
 *  "interface":"eth0","eni":"eni-0f1e2d3c4b5a69788","requestId":"5b0c...","issuedAt":"2026-11-25T10:00:00.000Z",
 *  "proof":{"headers":{...},"body":"Action=GetCallerIdentity&Version=2011-06-15"}}
 */
export const RequestDetailSchema = z
  .object({
    version: z.literal(CONTRACT_VERSION),
    action: z.enum(['up', 'down']),
    cluster: ClusterNameSchema,
    vip: Ipv4Schema,
    instanceId: InstanceIdSchema,
    interface: InterfaceNameSchema,
    eni: EniIdSchema,
    requestId: z.string().uuid('must be a UUID'),
    issuedAt: z.string().datetime({ message: 'must be an ISO-8601 UTC timestamp' }),
    /**
     * Absent when the agent does not run under pgpool's watchdog (a manual run) or predates the
     * field: such a request is never held as a re-acquire (docs/design.md, Leadership).
     */
    incarnation: IncarnationSchema.optional(),
    /**
     * A dry run: the controller verifies, validates and decides, records the plan as the outcome,
     * and changes nothing (no VIP record, route, SSM command or source/dest check). Signed like
     * every field. Present only as `true`, so the digest of every other request is what it was;
     * a controller that predates the field refuses it as an unknown field, and so never acts on it.
     */
    dryRun: z.literal(true).optional(),
    /**
     * `up` only, and only when the node's agent holds CAP_NET_ADMIN and is configured to use it
     * (`localAddress` in its config): the VIP is on the sender's interface already, put there (or
     * found there) by the agent itself, so the controller sends no SSM add to the sender. It still
     * fences the other members through SSM. Absent from older agents' requests, whose digests are
     * therefore unchanged; a `down` or a dry run carrying it is refused.
     */
    localAddress: z.literal(true).optional(),
    proof: ProofSchema,
  })
  .strict()
  .refine((detail) => detail.localAddress === undefined || (detail.action === 'up' && detail.dryRun === undefined), {
    message: 'is only for an up that is no dry run: nothing else adds the VIP',
    path: ['localAddress'],
  });
export type RequestDetail = z.infer<typeof RequestDetailSchema>;
export type UnsignedRequestDetail = Omit<RequestDetail, 'proof'>;
export type SwitchoverAction = RequestDetail['action'];

/** The EventBridge envelope as Lambda receives it from the rule. */
export const RequestEventSchema = z.object({
  version: z.string().max(16).optional(),
  id: z.string().min(1).max(128),
  source: z.literal(REQUEST_SOURCE),
  'detail-type': z.literal(REQUEST_DETAIL_TYPE),
  account: z.string().max(16).optional(),
  time: z.string().max(64).optional(),
  region: z.string().max(32).optional(),
  resources: z.array(z.string().max(2048)).max(16).optional(),
  detail: z.unknown(),
});

/** Per-table route change the controller made or found in place. */
export interface RouteReport {
  routeTableId: string;
  before: string | null;
  after: string | null;
  change: 'create' | 'replace' | 'keep';
}

/** `detail` of the outcome events the controller puts on the bus. */
export interface OutcomeDetail {
  version: typeof CONTRACT_VERSION;
  requestId: string | null;
  cluster: string | null;
  vip: string | null;
  action: SwitchoverAction | null;
  instanceId: string | null;
  outcome: OutcomeKind;
  reason: string | null;
  failedStep: string | null;
  holder: string | null;
  routes: RouteReport[];
  durationMs: number;
  /** A dry run: nothing was changed, and `routes` and `holder` are the plan. */
  dryRun: boolean;
}
