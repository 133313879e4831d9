import { boundReason } from '../../lib/reflect.ts';
import { CONTRACT_VERSION, type OutcomeDetail, type OutcomeKind, type RouteReport } from '../../lib/contract.ts';
import { requestKey, type RequestRecord, type SsmCommandReport } from '../../lib/ledger-records.ts';
import type { RequestIdentity } from './parse-request.ts';
import type { Durations, SwitchoverStep } from './steps.ts';

/**
 * Everything known about a request when its outcome is decided, built once per request. Never
 * holds the proof. The audit line, the ledger's request record and the outcome event are
 * projections of it.
 */
export interface SwitchoverOutcome {
  outcome: OutcomeKind;
  reason: string | null;
  failedStep: SwitchoverStep | null;
  identity: RequestIdentity;
  interface: string | null;
  eni: string | null;
  callerArn: string | null;
  digest: string | null;
  claimed: boolean;
  /** This attempt's claim token: its outcome is written only over its own claim. */
  claimToken: string | null;
  attempts: number;
  holderBefore: string | null;
  holderAfter: string | null;
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  sourceDestCheckDisabled: boolean;
  /** A dry run: nothing was changed; `routes`, `ssmCommands` and `holderAfter` are the plan. */
  dryRun?: boolean;
  receivedAt: Date;
  durationsMs: Durations;
}

/** The one audit line per request: stable field names (docs/audit.md). */
export interface AuditEntry {
  cluster: string | null;
  vip: string | null;
  action: string | null;
  requestId: string | null;
  instanceId: string | null;
  interface: string | null;
  eni: string | null;
  callerArn: string | null;
  outcome: OutcomeKind;
  reason: string | null;
  failedStep: SwitchoverStep | null;
  holderBefore: string | null;
  holderAfter: string | null;
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  sourceDestCheckDisabled: boolean;
  issuedAt: string | null;
  receivedAt: string;
  durationsMs: Durations;
  totalMs: number;
  attempts: number;
  duplicate: boolean;
  dryRun: boolean;
}

/** Builds the audit entry; pure, so every outcome kind can be checked field by field. */
export function auditEntryOf(outcome: SwitchoverOutcome, recordedAt: Date, duplicate = false): AuditEntry {
  return {
    cluster: outcome.identity.cluster,
    vip: outcome.identity.vip,
    action: outcome.identity.action,
    requestId: outcome.identity.requestId,
    instanceId: outcome.identity.instanceId,
    interface: outcome.interface,
    eni: outcome.eni,
    callerArn: outcome.callerArn,
    outcome: outcome.outcome,
    reason: outcome.reason === null ? null : boundReason(outcome.reason),
    failedStep: outcome.failedStep,
    holderBefore: outcome.holderBefore,
    holderAfter: outcome.holderAfter,
    routes: outcome.routes,
    ssmCommands: outcome.ssmCommands,
    sourceDestCheckDisabled: outcome.sourceDestCheckDisabled,
    issuedAt: outcome.identity.issuedAt,
    receivedAt: outcome.receivedAt.toISOString(),
    durationsMs: outcome.durationsMs,
    totalMs: recordedAt.getTime() - outcome.receivedAt.getTime(),
    attempts: outcome.attempts,
    duplicate,
    dryRun: outcome.dryRun === true,
  };
}

/** The outcome event's detail. */
export function outcomeDetailOf(entry: AuditEntry): OutcomeDetail {
  return {
    version: CONTRACT_VERSION,
    requestId: entry.requestId,
    cluster: entry.cluster,
    vip: entry.vip,
    action: entry.action === 'up' || entry.action === 'down' ? entry.action : null,
    instanceId: entry.instanceId,
    outcome: entry.outcome,
    reason: entry.reason,
    failedStep: entry.failedStep,
    holder: entry.holderAfter,
    routes: entry.routes,
    durationMs: entry.totalMs,
    dryRun: entry.dryRun,
  };
}


/** The ledger's request record of an outcome: what the agent waits for, and the audit history. */
export function requestRecordOf(outcome: SwitchoverOutcome, entry: AuditEntry, recordedAt: Date, ttlDays: number): RequestRecord | null {
  const { identity } = outcome;
  if (identity.requestId === null) return null;
  return {
    pk: requestKey(identity.requestId),
    requestId: identity.requestId,
    cluster: identity.cluster ?? 'unknown',
    vip: identity.vip,
    action: identity.action,
    instanceId: identity.instanceId,
    issuedAt: identity.issuedAt,
    status: outcome.outcome,
    reason: entry.reason,
    failedStep: outcome.failedStep,
    digest: outcome.digest,
    callerArn: outcome.callerArn,
    recordedAt: recordedAt.toISOString(),
    attempts: outcome.attempts,
    claimToken: outcome.claimToken ?? undefined,
    holderBefore: outcome.holderBefore,
    holderAfter: outcome.holderAfter,
    routes: outcome.routes,
    ssmCommands: outcome.ssmCommands,
    durationMs: entry.totalMs,
    ...(outcome.dryRun === true ? { dryRun: true } : {}),
    ttl: Math.floor(recordedAt.getTime() / 1000) + ttlDays * 86_400,
  };
}
