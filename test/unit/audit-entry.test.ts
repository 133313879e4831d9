import { createLogger } from '../../functions/logger.ts';
import { captureJsonOutput } from '../support/json-output.ts';
import { readFileSync } from 'node:fs';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTCOME_DETAIL_TYPES, OUTCOME_KINDS, OUTCOME_SOURCE, type OutcomeKind } from '../../lib/contract.ts';
import { AUDIT_MESSAGE, METRIC_NAMESPACE, METRICS } from '../../lib/telemetry.ts';
import { DynamoLedger } from '../../functions/adapters/ledger.ts';
import { EventBridgeOutcomeBus } from '../../functions/adapters/outcome-events.ts';
import { identityOf } from '../../functions/core/parse-request.ts';
import { auditEntryOf, type SwitchoverOutcome } from '../../functions/core/switchover-outcome.ts';
import { recordOutcome } from '../../functions/switchover/audit-trail.ts';
import { SAMPLE_REQUEST } from '../kit/samples.ts';

/** The audit line's fields, in the order docs/audit.md documents them. */
const AUDIT_FIELDS = [
  'cluster', 'vip', 'action', 'requestId', 'instanceId', 'interface', 'eni', 'callerArn', 'outcome', 'reason',
  'failedStep', 'holderBefore', 'holderAfter', 'routes', 'ssmCommands', 'sourceDestCheckDisabled', 'issuedAt',
  'receivedAt', 'durationsMs', 'totalMs', 'attempts', 'duplicate', 'dryRun',
];

const SIGNATURE = 'Signature=5f1d0c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060000';
const REQUEST_ID = '5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b';
const RECEIVED_AT = new Date('2026-11-25T10:00:00.100Z');
const RECORDED_AT = new Date('2026-11-25T10:00:01.350Z');

/** A request event as the agent sends it, proof included: the audit must never carry the proof. */
/** The audit trail on the AWS adapters, whose SDK clients the tests mock. */
function auditTrail(logger: ReturnType<typeof createLogger>, metrics: Metrics, now: () => Date) {
  return {
    ledger: new DynamoLedger(new DynamoDBClient({ region: 'us-east-1' }), 'pgpool-vip-ledger'),
    outcomeBus: new EventBridgeOutcomeBus(new EventBridgeClient({ region: 'us-east-1' }), 'pgpool-vip'),
    logger,
    metrics,
    ttlDays: 90,
    now,
  };
}

function requestEvent(): unknown {
  return {
    id: 'e1',
    source: 'pgpool.vip.agent',
    'detail-type': 'VIP Switchover Requested',
    detail: {
      ...SAMPLE_REQUEST,
      requestId: REQUEST_ID,
      proof: {
        headers: { authorization: `AWS4-HMAC-SHA256 Credential=ASIA/20261125/us-east-1/sts/aws4_request, SignedHeaders=host, ${SIGNATURE}`, 'x-amz-security-token': 'SECRET-TOKEN' },
        body: 'Action=GetCallerIdentity&Version=2011-06-15',
      },
    },
  };
}

function outcomeOf(kind: OutcomeKind): SwitchoverOutcome {
  const base: SwitchoverOutcome = {
    outcome: kind,
    reason: null,
    failedStep: null,
    identity: identityOf(requestEvent()),
    interface: 'eth0',
    eni: 'eni-0f1e2d3c4b5a69788',
    callerArn: 'arn:aws:sts::123456789012:assumed-role/pgpool-vip-node/i-0a632a8349b701357',
    digest: 'ab'.repeat(32),
    claimed: true,
    claimToken: '5f0c1d2e-3b4a-4c5d-8e6f-708192a3b4c5',
    attempts: 1,
    holderBefore: 'i-0b1c2d3e4f5a69788',
    holderAfter: 'i-0a632a8349b701357',
    routes: [{ routeTableId: 'rtb-0a1b2c3d4e5f60718', before: 'eni-0aaaaaaaaaaaaaaaa', after: 'eni-0f1e2d3c4b5a69788', change: 'replace' }],
    ssmCommands: [
      { purpose: 'add', commandId: 'c0ffee00-0000-4000-8000-000000000001', instanceIds: ['i-0a632a8349b701357'], status: 'Success' },
      { purpose: 'remove', commandId: 'c0ffee00-0000-4000-8000-000000000002', instanceIds: ['i-0b1c2d3e4f5a69788'], status: 'Sent' },
    ],
    sourceDestCheckDisabled: false,
    receivedAt: RECEIVED_AT,
    durationsMs: { parse: 1, verify: 180, claim: 20, validate: 60, decide: 0, ledger: 15, route: 900 },
  };
  switch (kind) {
    case 'applied':
      return base;
    case 'noop':
      return { ...base, holderBefore: base.holderAfter, routes: [{ ...base.routes[0], before: base.eni, change: 'keep' } as SwitchoverOutcome['routes'][number]] };
    case 'stale':
      return { ...base, reason: 'request issued at 2026-11-25T10:00:00.000Z is older than the up that made i-0b1c2d3e4f5a69788 holder', holderAfter: base.holderBefore, routes: [], ssmCommands: [] };
    case 'rejected':
      return { ...base, reason: 'proof is 75 s old; the limit is 60 s', failedStep: 'verify', callerArn: null, claimed: false, attempts: 0, holderBefore: null, holderAfter: null, routes: [], ssmCommands: [] };
    case 'failed':
      return {
        ...base,
        reason: 'SSM command c0ffee00 (add) on i-0a632a8349b701357 ended Failed: no interface',
        failedStep: 'ssm-add',
        ssmCommands: [{ purpose: 'add', commandId: 'c0ffee00-0000-4000-8000-000000000001', instanceIds: ['i-0a632a8349b701357'], status: 'Failed' }],
      };
  }
}

describe('Function: auditEntryOf', () => {
  it.each(OUTCOME_KINDS)('has every documented field and no proof for a %s outcome', (kind) => {
    // Act
    const entry = auditEntryOf(outcomeOf(kind), RECORDED_AT);
    // Assess
    expect(Object.keys(entry).sort()).toEqual([...AUDIT_FIELDS].sort());
    expect(entry).toMatchObject({ outcome: kind, requestId: REQUEST_ID, cluster: 'main', totalMs: 1250, receivedAt: RECEIVED_AT.toISOString() });
    expect(entry).not.toHaveProperty('proof');
    expect(JSON.stringify(entry)).not.toMatch(/"proof"|Signature=|SECRET-TOKEN|authorization/i);
  });

  it('documents every field of the audit line in docs/audit.md', () => {
    const doc = readFileSync(new URL('../../docs/audit.md', import.meta.url), 'utf8');

    const missing = AUDIT_FIELDS.filter((field) => !doc.includes(`| \`${field}\``));

    expect(missing).toEqual([]);
  });
});

describe('Function: recordOutcome (log line, EMF metrics, outcome event)', () => {
  const dynamodb = mockClient(DynamoDBClient);
  const eventbridge = mockClient(EventBridgeClient);
  let output: ReturnType<typeof captureJsonOutput>;

  beforeEach(() => {
    dynamodb.reset();
    eventbridge.reset();
    dynamodb.on(PutItemCommand).resolves({});
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-1' }] });
    output = captureJsonOutput();
  });

  afterEach(() => {
    output.restore();
  });
  // The mocks replace send on every client of the class in this process: the next file's are real.
  afterAll(() => {
    dynamodb.restore();
    eventbridge.restore();
  });

  async function record(kind: OutcomeKind, change: Partial<SwitchoverOutcome> = {}) {
    const logger = createLogger({ logLevel: 'INFO' });
    const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: 'pgpool-vip' });
    const entry = await recordOutcome(
      auditTrail(logger, metrics, () => RECORDED_AT),
      { ...outcomeOf(kind), ...change },
    );
    metrics.publishStoredMetrics();
    const json = output.lines();
    return { entry, printed: output.text(), audit: json.filter((line) => line.message === AUDIT_MESSAGE), emf: json.filter((line) => '_aws' in line) };
  }

  it.each(OUTCOME_KINDS)('logs one audit line with every field and no proof for a %s outcome', async (kind) => {
    const { audit, printed, entry } = await record(kind);

    expect(audit).toHaveLength(1);
    const line = audit[0] ?? {};
    // Every field is on the line, null ones too (functions/logger.ts keeps them).
    const expected = JSON.parse(JSON.stringify(entry)) as Record<string, unknown>;
    for (const field of AUDIT_FIELDS) {
      expect(line, field).toHaveProperty(field);
      expect(line[field], field).toEqual(expected[field]);
    }
    expect(line).toMatchObject({ outcome: kind, requestId: REQUEST_ID, level: kind === 'failed' ? 'ERROR' : kind === 'rejected' ? 'WARN' : 'INFO' });
    expect(line).not.toHaveProperty('proof');
    expect(line).not.toHaveProperty('signature');
    expect(printed).not.toMatch(/Signature=|SECRET-TOKEN/);
  });

  it('counts the record step (ledger write and outcome event) in the audit line and the duration metric', async () => {
    const logger = createLogger({ logLevel: 'INFO' });
    const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: 'pgpool-vip' });
    const outcome = outcomeOf('applied');
    // The clock reads 300 ms more once the ledger write and the event are done.
    const clock = [RECORDED_AT, new Date(RECORDED_AT.getTime() + 300)];
    const entry = await recordOutcome(
      auditTrail(logger, metrics, () => clock.shift() ?? RECORDED_AT),
      outcome,
    );
    metrics.publishStoredMetrics();
    const json = output.lines();
    const audit = json.find((line) => line.message === AUDIT_MESSAGE) ?? {};
    const emf = json.find((line) => '_aws' in line) ?? {};
    const beforeRecord = RECORDED_AT.getTime() - outcome.receivedAt.getTime();

    expect(entry.totalMs).toBe(beforeRecord + 300);
    expect(entry.durationsMs.record).toBe(300);
    expect(audit).toMatchObject({ totalMs: beforeRecord + 300, durationsMs: { record: 300 } });
    expect(emf[METRICS.switchoverDuration]).toBe(beforeRecord + 300);
    const ledgerItem = dynamodb.commandCalls(PutItemCommand)[0]?.args[0].input.Item;
    expect(ledgerItem?.durationMs).toEqual({ N: String(beforeRecord) });
  });

  it.each([
    ['applied', [METRICS.switchovers, METRICS.switchoverDuration]],
    ['noop', [METRICS.switchovers, METRICS.switchoverDuration]],
    ['stale', [METRICS.switchovers, METRICS.switchoverDuration, METRICS.staleRequests]],
    ['rejected', [METRICS.switchovers, METRICS.switchoverDuration, METRICS.rejectedRequests]],
    ['failed', [METRICS.switchovers, METRICS.switchoverDuration, METRICS.ssmFailures]],
  ] as const)('emits EMF metrics for a %s outcome with the cluster and outcome dimensions', async (kind, names) => {
    const { emf } = await record(kind);

    expect(emf).toHaveLength(1);
    const line = emf[0] as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } } & Record<string, unknown>;
    const directive = line._aws.CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('PgpoolVip');
    expect(directive?.Dimensions).toEqual([['service', 'cluster', 'outcome']]);
    expect(directive?.Metrics.map((metric) => metric.Name).sort()).toEqual([...names].sort());
    expect(directive?.Metrics.find((metric) => metric.Name === METRICS.switchoverDuration)?.Unit).toBe('Milliseconds');
    expect(line).toMatchObject({ cluster: 'main', outcome: kind, service: 'pgpool-vip', [METRICS.switchovers]: 1, [METRICS.switchoverDuration]: 1250 });
  });

  it.each(OUTCOME_KINDS)('publishes the %s outcome event with its detail-type and the outcome detail', async (kind) => {
    await record(kind);

    const sent = eventbridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(sent).toMatchObject({ Source: OUTCOME_SOURCE, DetailType: OUTCOME_DETAIL_TYPES[kind], EventBusName: 'pgpool-vip' });
    const detail = JSON.parse(sent?.Detail ?? '{}') as Record<string, unknown>;
    expect(Object.keys(detail).sort()).toEqual(
      ['version', 'requestId', 'cluster', 'vip', 'action', 'instanceId', 'outcome', 'reason', 'failedStep', 'holder', 'routes', 'durationMs', 'dryRun'].sort(),
    );
    expect(detail.dryRun).toBe(false);
    expect(sent?.Detail).not.toMatch(/Signature=|SECRET-TOKEN/);
  });

  it.each([
    ['applied', [METRICS.dryRuns]],
    ['stale', [METRICS.dryRuns]],
    ['rejected', [METRICS.dryRuns, METRICS.rejectedRequests]],
  ] as const)('marks a %s dry run on the audit line, the ledger record and the outcome event, and counts it apart from switchovers', async (kind, names) => {
    const planned = [{ purpose: 'add' as const, commandId: 'none', instanceIds: ['i-0a632a8349b701357'], status: 'NotSent' }];
    const { audit, emf } = await record(kind, { dryRun: true, ...(kind === 'applied' ? { ssmCommands: planned } : {}) });

    expect(audit[0]).toMatchObject({ outcome: kind, dryRun: true });
    const item = dynamodb.commandCalls(PutItemCommand)[0]?.args[0].input.Item;
    expect(item?.dryRun).toEqual({ BOOL: true });
    expect(item?.status).toEqual({ S: kind });
    const sent = eventbridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(JSON.parse(sent?.Detail ?? '{}')).toMatchObject({ outcome: kind, dryRun: true });
    const directive = (emf[0] as { _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> } })._aws.CloudWatchMetrics[0];
    expect(directive?.Metrics.map((metric) => metric.Name).sort()).toEqual([...names].sort());
  });

  it('leaves the dry-run mark off the ledger record of a real request', async () => {
    await record('applied');

    expect(dynamodb.commandCalls(PutItemCommand)[0]?.args[0].input.Item).not.toHaveProperty('dryRun');
  });
});
