/**
 * Metric and log names the code emits; alarms, the dashboard and saved queries in infra/ refer
 * to these, and a test checks that they match.
 */
export const METRIC_NAMESPACE = 'PgpoolVip';
export const SERVICE_NAME = 'pgpool-vip';

export const METRICS = {
  /** Count of requests by outcome (dimensions: cluster, outcome). */
  switchovers: 'Switchovers',
  /** Milliseconds from receipt to recorded outcome (dimensions: cluster, outcome). */
  switchoverDuration: 'SwitchoverDuration',
  /** Requests refused (bad schema, bad proof, not a member...). */
  rejectedRequests: 'RejectedRequests',
  /** Requests older than the last applied one. */
  staleRequests: 'StaleRequests',
  /** Deliveries of a request already decided (EventBridge delivers at least once; agents resend). */
  duplicateDeliveries: 'DuplicateDeliveries',
  /** Dry runs by outcome, counted instead of Switchovers (dimensions: cluster, outcome). */
  dryRuns: 'DryRuns',
  /** SSM commands that failed or did not finish in time. */
  ssmFailures: 'SsmFailures',
  /** Reconciler: drifts found (dimension: cluster). */
  driftFound: 'DriftFound',
  /** Reconciler: 1 when the VIP is healthy, 0 otherwise (dimension: cluster). */
  vipHealthy: 'VipHealthy',
} as const;

/** `message` of the one audit line per request (Logs Insights queries filter on it). */
export const AUDIT_MESSAGE = 'switchover audit';
export const DRIFT_MESSAGE = 'vip drift';
