import { createLogger } from '../../functions/logger.ts';
import { captureJsonOutput } from '../support/json-output.ts';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordClusterReport, type ClusterReport, type DriftRecord } from '../../functions/reconcile/record-drift.ts';
import { DRIFT_MESSAGE, METRIC_NAMESPACE, METRICS } from '../../lib/telemetry.ts';

const DRIFT_FIELDS = ['cluster', 'vip', 'kind', 'table', 'expected', 'found', 'holder', 'healed', 'healNote', 'reason', 'trigger', 'checkedAt'];

const drift: DriftRecord = {
  cluster: 'main',
  vip: '198.19.0.50',
  kind: 'route-elsewhere',
  table: 'rtb-0f1e2d3c4b5a69788',
  expected: 'eni-0f1e2d3c4b5a69788',
  found: 'eni-0aaaaaaaaaaaaaaaa',
  holder: 'i-0a632a8349b701357',
  healed: false,
  healNote: 'heal is off for this cluster',
  reason: "rtb-0f1e2d3c4b5a69788 routes 198.19.0.50/32 to eni-0aaaaaaaaaaaaaaaa, not to the holder's eni-0f1e2d3c4b5a69788",
  trigger: 'schedule',
  checkedAt: '2026-11-25T10:07:15.230Z',
};

describe('Function: recordClusterReport', () => {
  let output: ReturnType<typeof captureJsonOutput>;

  beforeEach(() => {
    output = captureJsonOutput();
  });

  afterEach(() => {
    output.restore();
  });

  function record(reports: ClusterReport[]) {
    const logger = createLogger({ logLevel: 'INFO' });
    const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: 'pgpool-vip' });
    for (const report of reports) recordClusterReport(report, logger, metrics);
    const json = output.lines();
    return { drifts: json.filter((line) => line.message === DRIFT_MESSAGE), emf: json.filter((line) => '_aws' in line) };
  }

  it('logs one drift line with every field for each drift', () => {
    // Act
    const { drifts } = record([{ cluster: 'main', vip: '198.19.0.50', healthy: false, interfaceCheck: 'not-checked', drifts: [drift, { ...drift, table: 'rtb-0a1b2c3d4e5f60718' }] }]);
    // Assess
    expect(drifts).toHaveLength(2);
    for (const field of DRIFT_FIELDS) expect(drifts[0], field).toHaveProperty(field);
    expect(drifts[0]).toMatchObject({ level: 'WARN', kind: 'route-elsewhere', healed: false });
  });

  it('emits DriftFound and VipHealthy per cluster, each with its own cluster dimension', () => {
    const { emf } = record([
      { cluster: 'main', vip: '198.19.0.50', healthy: false, interfaceCheck: 'not-checked', drifts: [drift] },
      { cluster: 'reports', vip: '198.19.0.51', healthy: true, interfaceCheck: 'present', drifts: [] },
    ]);

    expect(emf).toHaveLength(2);
    for (const line of emf) {
      const directive = (line as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } })._aws.CloudWatchMetrics[0];
      expect(directive?.Namespace).toBe('PgpoolVip');
      expect(directive?.Dimensions).toEqual([['service', 'cluster']]);
      expect(directive?.Metrics).toEqual([
        { Name: METRICS.driftFound, Unit: 'Count' },
        { Name: METRICS.vipHealthy, Unit: 'Count' },
      ]);
    }
    expect(emf.map((line) => [line.cluster, line[METRICS.driftFound], line[METRICS.vipHealthy]])).toEqual([
      ['main', 1, 0],
      ['reports', 0, 1],
    ]);
  });
});
