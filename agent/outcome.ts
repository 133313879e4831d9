import { z } from 'zod';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  LEDGER_PARTITION_KEY,
  RequestRecordSchema,
  VipRecordSchema,
  requestKey,
  vipKey,
  type VipRecord,
} from '../lib/ledger-records.ts';
import { fieldName } from '../lib/errors.ts';
import type { AwsJsonCaller } from './aws-json.ts';
import type { Deadline } from './deadline.ts';
import { DeadlineReachedError, describeAwsError } from './errors.ts';
import { nextPollMs } from './poll-schedule.ts';

/**
 * The part of a request record the agent acts on. Only these fields are checked, so the
 * controller can add or change the others without breaking agents already on the nodes.
 */
const OutcomeFieldsSchema = RequestRecordSchema.pick({ status: true, reason: true, failedStep: true, attempts: true, digest: true });
/** A claimed `up` whose routes are all written (see routedClaim): counted only for the claim that wrote it. */
const RoutedFieldsSchema = RequestRecordSchema.pick({ claimToken: true, routedClaim: true });
export type OutcomeFields = z.infer<typeof OutcomeFieldsSchema>;
/**
 * What a dry run's record says the real run would do. Read apart from the outcome fields, and
 * only when it fits: a record the agent cannot read as a plan still carries its outcome.
 */
const PlanFieldsSchema = RequestRecordSchema.pick({ dryRun: true, holderBefore: true, holderAfter: true, routes: true, ssmCommands: true });
export type PlanFields = z.infer<typeof PlanFieldsSchema>;
/**
 * The outcomes after which the agent stops waiting for the controller. `routed`: the request is
 * still `claimed`, but every route table points at this node, no newer request took the VIP, and
 * the VIP is on the interface (`landed`): what pgpool needs, while the controller still records
 * the outcome (after SSM's report).
 */
export type SettledRecord =
  | (OutcomeFields & { status: Exclude<OutcomeFields['status'], 'claimed'>; plan?: PlanFields })
  | (Omit<OutcomeFields, 'status'> & { status: 'routed'; plan?: undefined });

export interface OutcomeQuery {
  /** DynamoDB. */
  client: AwsJsonCaller;
  table: string;
  requestId: string;
  deadline: Deadline;
  /** The longest wait between two reads; the first second reads more often (see poll-schedule.ts). */
  pollIntervalMs: number;
  /**
   * The digest of the request sent: an outcome recorded for another content under the same id
   * (someone else's refused event) is not this request's answer.
   */
  digest?: string | undefined;
  /** After a resend: only an outcome of a later attempt than this one counts. */
  afterAttempt?: number | undefined;
  /** Told what the ledger showed after each read, for the progress line. */
  onSeen?: (seen: string) => void;
  /**
   * For an `up` whose interface is checked: whether the VIP is on the interface now. Once the
   * ledger shows the request routed, this is asked every LANDED_CHECK_MS, and the wait ends
   * (`routed`) as soon as it is true; without it only the outcome ends the wait.
   */
  landed?: () => boolean;
}

/** How often the interface is looked at once the routes are written: a local read, no network. */
const LANDED_CHECK_MS = 20;

/**
 * Polls the ledger for the controller's outcome of one request, often at first, then backing
 * off to `pollIntervalMs` (nextPollMs). Read errors and records not yet complete are retried
 * (the item is written by another party, on its own schedule); at the deadline the last thing
 * seen goes into the message.
 */
export async function waitForOutcome(query: OutcomeQuery): Promise<SettledRecord> {
  const { deadline } = query;
  let lastSeen = 'no record yet';
  let routed: SettledRecord | null = null;
  const started = Date.now();
  let step = 0;
  for (;;) {
    try {
      const record = await readRequestRecord(query);
      if (record.kind === 'settled') return record.outcome;
      lastSeen = record.seen;
      if (record.routed !== null && query.landed !== undefined) routed = record.routed;
    } catch (error) {
      if (error instanceof DeadlineReachedError) throw deadline.reached(waitingFor(query, lastSeen), error);
      lastSeen = `last ledger read failed: ${describeAwsError(error)}`;
    }
    query.onSeen?.(lastSeen);
    step = nextPollMs(Date.now() - started, step, query.pollIntervalMs);
    if (routed === null) {
      if (!(await deadline.sleep(step))) throw deadline.reached(waitingFor(query, lastSeen));
      continue;
    }
    // Routed: the VIP's arrival on the interface ends the wait; the ledger is still read at the
    // usual pace, in case the controller reports a failure (the SSM add) first.
    for (let waited = 0; waited < step; waited += LANDED_CHECK_MS) {
      if (query.landed?.() === true) return routed;
      if (!(await deadline.sleep(LANDED_CHECK_MS))) throw deadline.reached(waitingFor(query, lastSeen));
    }
  }
}

function waitingFor(query: OutcomeQuery, lastSeen: string): string {
  return `waiting for the controller's outcome of request ${query.requestId} in ledger ${query.table}; the controller's answer: ${lastSeen}; likely cause: ${likelyCause(lastSeen)}`;
}

/** What on-call should look at first, from the last thing the ledger showed. */
export function likelyCause(lastSeen: string): string {
  if (lastSeen === 'no record yet') {
    return "the controller never took the request up: its Lambda or the bus's rule is not running (see the dead-letter and controller-errors alarms), or bus/ledgerTable in the agent config name another stage";
  }
  if (lastSeen.startsWith('claimed')) {
    return 'the controller took the request up but did not finish: it waits for an SSM command on a node whose SSM agent is not running or not registered (pgpool-vip doctor on each node checks it), or its route writes are throttled';
  }
  if (lastSeen.startsWith('last ledger read failed')) return 'this node cannot read the ledger (pgpool-vip doctor checks it)';
  return 'the resent request was not answered in time';
}

type RecordRead = { kind: 'settled'; outcome: SettledRecord } | { kind: 'pending'; seen: string; routed: SettledRecord | null };

async function readRequestRecord(query: OutcomeQuery): Promise<RecordRead> {
  const item = await getItem(query.client, query.table, requestKey(query.requestId), query.deadline);
  if (item === undefined) return { kind: 'pending', seen: 'no record yet', routed: null };
  const parsed = OutcomeFieldsSchema.safeParse(item);
  if (!parsed.success) {
    // Not fatal: the controller rewrites the record (and moto shows an UpdateItem half done).
    const issue = parsed.error.issues[0];
    return { kind: 'pending', seen: `record does not fit its schema: ${issue === undefined ? 'invalid' : `${fieldName(issue.path)} ${issue.message}`}`, routed: null };
  }
  const outcome = parsed.data;
  const ours = query.digest === undefined || outcome.digest === query.digest;
  const current = query.afterAttempt === undefined || (outcome.attempts ?? 1) > query.afterAttempt;
  if (outcome.status === 'claimed') {
    const claim = RoutedFieldsSchema.safeParse(item);
    const routedHere = ours && current && claim.success && claim.data.routedClaim !== undefined && claim.data.routedClaim === claim.data.claimToken;
    return routedHere
      ? { kind: 'pending', seen: 'claimed, routes written, no outcome yet', routed: { ...outcome, status: 'routed' } }
      : { kind: 'pending', seen: 'claimed, no outcome yet', routed: null };
  }
  if (!ours) {
    return { kind: 'pending', seen: `an event with other content under this id was ${outcome.status}: ${outcome.reason ?? 'no reason'}`, routed: null };
  }
  if (!current) {
    return { kind: 'pending', seen: `attempt ${outcome.attempts ?? 1} ${outcome.status}, waiting for the resent request`, routed: null };
  }
  const plan = PlanFieldsSchema.safeParse(item);
  return { kind: 'settled', outcome: { ...outcome, status: outcome.status, ...(plan.success ? { plan: plan.data } : {}) } };
}

/** The VIP's holder as the ledger records it; undefined when no `up` was ever applied. */
export async function readVipRecord(
  client: AwsJsonCaller,
  table: string,
  cluster: string,
  deadline: Deadline,
): Promise<VipRecord | undefined> {
  const item = await getItem(client, table, vipKey(cluster), deadline);
  if (item === undefined) return undefined;
  return VipRecordSchema.parse(item);
}

/** GetItem's answer: the item in DynamoDB's typed JSON, absent when there is none. */
const GetItemOutputSchema = z.object({ Item: z.record(z.string(), z.record(z.string(), z.unknown())).optional() });

async function getItem(
  client: AwsJsonCaller,
  table: string,
  key: string,
  deadline: Deadline,
): Promise<Record<string, unknown> | undefined> {
  const answer = await deadline.race(`reading ${key} from ledger ${table}`, (signal) =>
    client.call('GetItem', { TableName: table, Key: { [LEDGER_PARTITION_KEY]: { S: key } }, ConsistentRead: true }, signal),
  );
  const output = GetItemOutputSchema.parse(answer);
  // The typed JSON is the wire form of the SDK's AttributeValue: the same unmarshall reads it.
  return output.Item === undefined ? undefined : unmarshall(output.Item as unknown as Record<string, AttributeValue>);
}
