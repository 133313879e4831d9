import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { ClusterConfig } from '../../lib/cluster-config.ts';
import { DRIFT_MESSAGE, METRICS } from '../../lib/telemetry.ts';
import type { Drift, DriftKind } from '../core/drift.ts';
import type { ReconcileTrigger } from './events.ts';

/** The audit record of one drift: stable field names (docs/audit.md). */
export interface DriftRecord {
  cluster: string;
  vip: string;
  kind: DriftKind;
  table: string | null;
  expected: string | null;
  found: string | null;
  /** The ledger's holder (instance id), or null when none is recorded. */
  holder: string | null;
  healed: boolean;
  /** Why the drift was not healed (heal off, holder not running, a failed write...), or null. */
  healNote: string | null;
  reason: string;
  trigger: ReconcileTrigger['kind'];
  checkedAt: string;
}

/** What one cluster's check concluded. */
export interface ClusterReport {
  cluster: string;
  vip: string;
  healthy: boolean;
  drifts: DriftRecord[];
  interfaceCheck: 'present' | 'absent' | 'unknown' | 'not-checked';
}

export function driftRecordOf(
  cluster: ClusterConfig,
  drift: Drift,
  context: { holder: string | null; healed: boolean; healNote: string | null; trigger: ReconcileTrigger; checkedAt: Date },
): DriftRecord {
  return {
    cluster: cluster.name,
    vip: cluster.vip,
    kind: drift.kind,
    table: drift.routeTableId,
    expected: drift.expected,
    found: drift.found,
    holder: context.holder,
    healed: context.healed,
    healNote: context.healNote,
    reason: drift.reason,
    trigger: context.trigger.kind,
    checkedAt: context.checkedAt.toISOString(),
  };
}

/**
 * One audit line per drift and one pair of metrics per cluster. The metrics are flushed per
 * cluster so each EMF line carries its own `cluster` dimension.
 */
export function recordClusterReport(report: ClusterReport, logger: Logger, metrics: Metrics): void {
  for (const record of report.drifts) logger.warn(DRIFT_MESSAGE, { ...record });
  if (report.drifts.length === 0) logger.info('vip healthy', { cluster: report.cluster, vip: report.vip, interfaceCheck: report.interfaceCheck });
  metrics.addDimensions({ cluster: report.cluster });
  metrics.addMetric(METRICS.driftFound, MetricUnit.Count, report.drifts.length);
  metrics.addMetric(METRICS.vipHealthy, MetricUnit.Count, report.healthy ? 1 : 0);
  metrics.publishStoredMetrics();
}
