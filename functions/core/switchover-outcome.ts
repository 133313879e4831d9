import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Logger } from '@aws-lambda-powertools/logger';
import { boundReason } from '../../lib/reflect.ts';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { CONTRACT_VERSION, type OutcomeDetail, type OutcomeKind, type RouteReport } from '../../lib/contract.ts';
import { requestKey, type RequestRecord, type SsmCommandReport } from '../../lib/ledger-records.ts';
import { AUDIT_MESSAGE, METRICS } from '../../lib/telemetry.ts';
import { publishOutcome } from '../adapters/outcome-events.ts';
import type { Ledger } from '../adapters/ledger.ts';
import { describeError } from './steps.ts';
import type { RequestIdentity } from './parse-request.ts';

/** Everything known about a request when its outcome is decided. Never holds the proof. */
export interface SwitchoverOutcome {
  outcome: OutcomeKind;
  reason: string | null;
  failedStep: string | null;
  identity: RequestIdentity;
  interface: string | null;
  eni: string | null;
  callerArn: string | null;
  digest: string | null;
  claimed: boolean;
  attempts: number;
  holderBefore: string | null;
  holderAfter: string | null;
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  sourceDestCheckDisabled: boolean;
  receivedAt: Date;
  durationsMs: Record<string, number>;
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
  failedStep: string | null;
  holderBefore: string | null;
  holderAfter: string | null;
  routes: RouteReport[];
  ssmCommands: SsmCommandReport[];
  sourceDestCheckDisabled: boolean;
  issuedAt: string | null;
  receivedAt: string;
  durationsMs: Record<string, number>;
  totalMs: number;
  attempts: number;
  duplicate: boolean;
}

export interface RecordDeps {
  ledger: Ledger;
  eventbridge: EventBridgeClient;
  busName: string;
  logger: Logger;
  metrics: Metrics;
  ttlDays: number;
  now: () => Date;
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
  };
}

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
  };
}

/**
 * Records one outcome four ways: the ledger (what the agent waits for), the audit log line, EMF
 * metrics and an outcome event. A ledger failure is thrown (the request must not look lost);
 * an outcome event that cannot be put is logged and counted, not fatal.
 */
export async function recordOutcome(deps: RecordDeps, outcome: SwitchoverOutcome): Promise<AuditEntry> {
  const recordedAt = deps.now();
  const entry = auditEntryOf(outcome, recordedAt);
  const { identity } = outcome;

  const ledgerWrite = async (): Promise<void> => {
    if (identity.requestId === null) return;
    const record: RequestRecord = {
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
      holderBefore: outcome.holderBefore,
      holderAfter: outcome.holderAfter,
      routes: outcome.routes,
      ssmCommands: outcome.ssmCommands,
      durationMs: entry.totalMs,
      ttl: Math.floor(recordedAt.getTime() / 1000) + deps.ttlDays * 86_400,
    };
    if (outcome.claimed) await deps.ledger.recordOutcome(record);
    else await deps.ledger.recordUnclaimedOutcome(record);
  };

  const [ledgerResult, eventResult] = await Promise.allSettled([
    ledgerWrite(),
    publishOutcome(deps.eventbridge, deps.busName, outcomeDetailOf(entry)),
  ]);

  const log = outcome.outcome === 'failed' ? 'error' : outcome.outcome === 'rejected' ? 'warn' : 'info';
  deps.logger[log](AUDIT_MESSAGE, { ...entry });
  if (eventResult.status === 'rejected') {
    deps.logger.error('outcome event not published', { requestId: identity.requestId, error: describeError(eventResult.reason) });
  }

  deps.metrics.addDimensions({ cluster: identity.cluster ?? 'unknown', outcome: outcome.outcome });
  deps.metrics.addMetric(METRICS.switchovers, MetricUnit.Count, 1);
  deps.metrics.addMetric(METRICS.switchoverDuration, MetricUnit.Milliseconds, entry.totalMs);
  if (outcome.outcome === 'rejected') deps.metrics.addMetric(METRICS.rejectedRequests, MetricUnit.Count, 1);
  if (outcome.outcome === 'stale') deps.metrics.addMetric(METRICS.staleRequests, MetricUnit.Count, 1);
  const ssmFailures = outcome.ssmCommands.filter((command) => !['Success', 'Sent'].includes(command.status)).length;
  if (ssmFailures > 0) deps.metrics.addMetric(METRICS.ssmFailures, MetricUnit.Count, ssmFailures);

  if (ledgerResult.status === 'rejected') {
    deps.logger.error('outcome not recorded in the ledger', { requestId: identity.requestId, error: describeError(ledgerResult.reason) });
    throw ledgerResult.reason;
  }
  return entry;
}
