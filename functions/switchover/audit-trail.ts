import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { describeError } from '../../lib/errors.ts';
import { untilAborted } from '../invocation-deadline.ts';
import { AUDIT_MESSAGE, METRICS } from '../../lib/telemetry.ts';
import type { RequestRecord } from '../../lib/ledger-records.ts';
import type { Ledger, OutcomeBus } from '../core/ports.ts';
import { auditEntryOf, outcomeDetailOf, requestRecordOf, type AuditEntry, type SwitchoverOutcome } from '../core/switchover-outcome.ts';

export interface AuditTrailDeps {
  ledger: Ledger;
  outcomeBus: OutcomeBus;
  logger: Logger;
  metrics: Metrics;
  ttlDays: number;
  now: () => Date;
}

/**
 * Records one outcome four ways: the ledger (what the agent waits for) and the outcome event at
 * once, the audit log line, EMF metrics. A ledger failure is thrown (the request must not look
 * lost); an outcome event that cannot be put is logged and counted, not fatal. Neither write is
 * waited for past `cutoff`: a ledger write still pending then is a failure, an event a lost one.
 */
export async function recordOutcome(deps: AuditTrailDeps, outcome: SwitchoverOutcome, cutoff?: AbortSignal): Promise<AuditEntry> {
  const recordedAt = deps.now();
  // What the ledger record and the outcome event carry: they cannot include their own write.
  const written = auditEntryOf(outcome, recordedAt);
  const record = requestRecordOf(outcome, written, recordedAt, deps.ttlDays);
  const { identity } = outcome;

  const [ledgerResult, eventResult] = await Promise.allSettled([
    untilAborted(record === null ? Promise.resolve(true) : writeRecord(deps.ledger, record, outcome), cutoff),
    untilAborted(deps.outcomeBus.publish(outcomeDetailOf(written)), cutoff),
  ]);
  // The audit line and the duration metric come after the writes, so they include the record step.
  const doneAt = deps.now();
  const entry: AuditEntry = {
    ...written,
    durationsMs: { ...written.durationsMs, record: doneAt.getTime() - recordedAt.getTime() },
    totalMs: doneAt.getTime() - outcome.receivedAt.getTime(),
  };

  const log = outcome.outcome === 'failed' ? 'error' : outcome.outcome === 'rejected' ? 'warn' : 'info';
  deps.logger[log](AUDIT_MESSAGE, { ...entry });
  if (ledgerResult.status === 'fulfilled' && ledgerResult.value === false) {
    // A newer attempt of the same request claimed it meanwhile; its outcome is the one that counts.
    deps.logger.warn('outcome of a superseded attempt not recorded', { requestId: identity.requestId, outcome: outcome.outcome });
  }
  if (eventResult.status === 'rejected') {
    deps.logger.error('outcome event not published', { requestId: identity.requestId, error: describeError(eventResult.reason) });
  }

  countOutcome(deps.metrics, outcome, entry);

  if (ledgerResult.status === 'rejected') {
    deps.logger.error('outcome not recorded in the ledger', { requestId: identity.requestId, error: describeError(ledgerResult.reason) });
    throw ledgerResult.reason;
  }
  return entry;
}

/** EMF metrics of one outcome. A dry run moved nothing: it is counted apart, but a refused one is still a refused request. */
function countOutcome(metrics: Metrics, outcome: SwitchoverOutcome, entry: AuditEntry): void {
  metrics.addDimensions({ cluster: outcome.identity.cluster ?? 'unknown', outcome: outcome.outcome });
  if (outcome.dryRun === true) {
    metrics.addMetric(METRICS.dryRuns, MetricUnit.Count, 1);
    if (outcome.outcome === 'rejected') metrics.addMetric(METRICS.rejectedRequests, MetricUnit.Count, 1);
    return;
  }
  metrics.addMetric(METRICS.switchovers, MetricUnit.Count, 1);
  metrics.addMetric(METRICS.switchoverDuration, MetricUnit.Milliseconds, entry.totalMs);
  if (outcome.outcome === 'rejected') metrics.addMetric(METRICS.rejectedRequests, MetricUnit.Count, 1);
  if (outcome.outcome === 'stale') metrics.addMetric(METRICS.staleRequests, MetricUnit.Count, 1);
  const ssmFailures = outcome.ssmCommands.filter((command) => !['Success', 'Sent'].includes(command.status)).length;
  if (ssmFailures > 0) metrics.addMetric(METRICS.ssmFailures, MetricUnit.Count, ssmFailures);
}

/**
 * The request's record: over this attempt's own claim; or, when the claim's answer was lost (the
 * outcome carries the token of a claim that may have landed, or may still land), over that claim
 * if it is there, as a new record if nothing is, and over the claim again if it landed between
 * the two; a claim landing after the new record is refused (it never lands over its own attempt's
 * outcome). Never claimed: only where no record is yet.
 */
async function writeRecord(ledger: Ledger, record: RequestRecord, outcome: SwitchoverOutcome): Promise<boolean> {
  if (outcome.claimed) return await ledger.recordOutcome(record);
  if (outcome.claimToken !== null) {
    return (await ledger.recordOutcome(record)) || (await ledger.recordUnclaimedOutcome(record)) || (await ledger.recordOutcome(record));
  }
  return await ledger.recordUnclaimedOutcome(record);
}
