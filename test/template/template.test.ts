import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_DETAIL_TYPE, REQUEST_SOURCE } from '../../lib/contract.ts';
import { AUDIT_MESSAGE, METRIC_NAMESPACE, METRICS } from '../../lib/telemetry.ts';
import { alarmMetrics, dashboardBody, dashboardMetrics } from './metric-references.ts';
import { REPO_ROOT, TEMPLATE_FILE, type CfnTemplate } from '../../local/packaged-service.ts';
import { CFN_LINT_INSTALL_HINT, packageTemplate, requireTool, resource, resourcesOfType } from './template-kit.ts';
import { zipEntries, zipEntryText } from './zip-entries.ts';

const EMITTED_METRICS = new Set<string>(Object.values(METRICS));

let template: CfnTemplate;
let packagedDir: string;
/** This file's own folder: the packaged one is shared through the package cache. */
let scratchDir: string;

/** One cfn-lint run over several templates (its start-up is most of its time); findings per file. */
function cfnLint(files: string[]): { status: number | null; findings: Map<string, string[]> } {
  const result = spawnSync('sh', [join(REPO_ROOT, 'scripts/cfn-lint.sh'), ...files], { encoding: 'utf8', timeout: 180_000 });
  if (result.error !== undefined) throw result.error;
  const lines = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
  const findings = new Map(files.map((file) => [file, lines.filter((line) => line.startsWith(`${file}:`))]));
  const unattributed = lines.filter((line) => !files.some((file) => line.startsWith(`${file}:`)));
  if (unattributed.length > 0) throw new Error(`cfn-lint said: ${unattributed.join('\n')}`);
  return { status: result.status, findings };
}

/** A one-function template with a deprecated runtime: cfn-lint must flag it, or a clean result means nothing. */
function deprecatedRuntimeTemplate(dir: string): string {
  const switchover = structuredClone(resource(template, 'SwitchoverLambdaFunction'));
  if (switchover.Properties === undefined) throw new Error('no switchover properties');
  switchover.Properties.Runtime = 'nodejs16.x';
  switchover.Properties.Code = { ZipFile: 'export const handler = async () => {};' };
  switchover.Properties.Role = 'arn:aws:iam::123456789012:role/example';
  delete switchover.Properties.Environment;
  delete switchover.DependsOn;
  const file = join(dir, 'deprecated-runtime.json');
  writeFileSync(file, JSON.stringify({ AWSTemplateFormatVersion: '2010-09-09', Resources: { Switchover: switchover } }));
  return file;
}

let lint: ReturnType<typeof cfnLint>;
let packagedFile: string;
let deprecatedFile: string;

beforeAll(async () => {
  requireTool('cfn-lint', CFN_LINT_INSTALL_HINT);
  ({ template, dir: packagedDir } = await packageTemplate('dev'));
  scratchDir = mkdtempSync(join(tmpdir(), 'pgpool-vip-template-test-'));
  packagedFile = join(packagedDir, TEMPLATE_FILE);
  deprecatedFile = deprecatedRuntimeTemplate(scratchDir);
  lint = cfnLint([packagedFile, deprecatedFile]);
});

afterAll(() => rmSync(scratchDir, { recursive: true, force: true }));

describe('Template: cfn-lint', () => {
  it('finds nothing in the packaged template', () => {
    expect(lint.findings.get(packagedFile)).toEqual([]);
  });

  it('reports a deprecated runtime, so a clean result means something', () => {
    expect(lint.status).not.toBe(0);
    expect(lint.findings.get(deprecatedFile)?.join('\n')).toMatch(/E253[13]/);
  });

  it("runs the functions on the newest Node.js runtime in cfn-lint's Lambda lifecycle data, more than 180 days before its deprecation", () => {
    const lifecycle = cfnLintRuntimeLifecycle();
    const runtimes = new Set(resourcesOfType(template, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties?.Runtime));
    const nodeRuntimes = Object.keys(lifecycle).filter((name) => /^nodejs\d+\.x$/.test(name));
    const newest = nodeRuntimes.sort((a, b) => Number(/\d+/.exec(b)?.[0]) - Number(/\d+/.exec(a)?.[0]))[0];

    expect([...runtimes]).toEqual([newest]);
    const deprecated = Date.parse(lifecycle[newest ?? '']?.deprecated ?? '');
    expect(deprecated - Date.now()).toBeGreaterThan(180 * 86_400_000);
  });
});

/** Seconds between runs of an EventBridge `rate(...)` schedule. */
function rateSeconds(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(expression);
  if (match === null) throw new Error(`not a rate(...) schedule: ${expression}`);
  return Number(match[1]) * (match[2]?.startsWith('hour') === true ? 3600 : 60);
}

/** cfn-lint's own table of Lambda runtimes and their deprecation dates (the data its E2531/W2531 rules use). */
function cfnLintRuntimeLifecycle(): Record<string, { deprecated?: string; successor?: string | null }> {
  // Found, not imported: importing cfn-lint costs a second of CPU.
  const found = spawnSync('python3', ['-c', "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('cfnlint').origin))"], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`cannot locate cfn-lint's package: ${found.stderr}`);
  const file = join(found.stdout.trim(), 'data', 'AdditionalSpecs', 'LmbdRuntimeLifecycle.json');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, { deprecated?: string; successor?: string | null }>;
}

describe('Template: functions', () => {
  it('runs both functions on nodejs24.x arm64 with their handlers; only the switchover has reserved concurrency', () => {
    const functions = resourcesOfType(template, 'AWS::Lambda::Function').map(([logicalId, fn]) => [
      logicalId,
      fn.Properties?.Runtime,
      fn.Properties?.Architectures,
      fn.Properties?.Handler,
      fn.Properties?.ReservedConcurrentExecutions,
    ]);

    expect(functions.sort()).toEqual([
      ['ReconcileLambdaFunction', 'nodejs24.x', ['arm64'], 'functions/reconcile/handler.handler', undefined],
      ['SwitchoverLambdaFunction', 'nodejs24.x', ['arm64'], 'functions/switchover/handler.handler', 20],
    ]);
  });

  it('gives the switchover time for the SSM wait of the stage config and no async retry', () => {
    const switchover = resource(template, 'SwitchoverLambdaFunction').Properties;
    const invokeConfig = resource(template, 'SwitchoverLambdaEvConf').Properties;

    expect(switchover?.Timeout).toBe(20 + 25);
    expect(invokeConfig?.MaximumRetryAttempts).toBe(0);
  });

  it('keeps 90 days of logs for each function', () => {
    const retention = resourcesOfType(template, 'AWS::Logs::LogGroup').map(([logicalId, group]) => [logicalId, group.Properties?.RetentionInDays]);

    expect(retention.sort()).toEqual([
      ['ReconcileLogGroup', 90],
      ['SwitchoverLogGroup', 90],
    ]);
  });

  it('ships each function as one minified ESM bundle with the SDK inside, its ES-module build', () => {
    for (const name of ['switchover', 'reconcile']) {
      const zip = join(packagedDir, `${name}.zip`);

      const entries = zipEntries(zip);
      const bundle = zipEntryText(zip, `functions/${name}/handler.mjs`);

      expect(entries, name).toEqual([`functions/${name}/handler.mjs`]);
      expect(bundle.startsWith("import { createRequire } from 'node:module';"), name).toBe(true);
      expect(/from ["']@aws-sdk\//.test(bundle), name).toBe(false);
    }
    // mainFields ['module', 'main']: the SDK's CommonJS builds would show as esbuild's `require_dist_cjs` wrappers.
    const switchover = zipEntryText(join(packagedDir, 'switchover.zip'), 'functions/switchover/handler.mjs');
    expect(switchover.includes('require_dist_cjs')).toBe(false);
    expect(switchover.includes('new PutItemCommand(')).toBe(true);
    // Minified: no path comments, and no line that is only indentation.
    expect(switchover.includes('// node_modules/')).toBe(false);
    expect(switchover.split('\n').length).toBeLessThan(200);
  });
});

describe('Template: events', () => {
  it('sends agents\' requests from the bus to the switchover, with retries and a dead-letter queue', () => {
    const [[, rule] = []] = resourcesOfType(template, 'AWS::Events::Rule').filter(
      ([, candidate]) => candidate.Properties?.Name === 'pgpool-vip-dev-switchover-requests',
    );

    expect(rule?.Properties?.EventBusName).toEqual({ 'Fn::GetAtt': ['Bus', 'Name'] });
    expect(rule?.Properties?.EventPattern).toEqual({ source: [REQUEST_SOURCE], 'detail-type': [REQUEST_DETAIL_TYPE] });
    expect(rule?.Properties?.Targets).toEqual([
      {
        Arn: { 'Fn::GetAtt': ['SwitchoverLambdaFunction', 'Arn'] },
        Id: 'pgpool-vip-dev-switchover-requests-target',
        RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 8 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['RequestDeadLetterQueue', 'Arn'] } },
      },
    ]);
  });

  it('lets only that rule send to the dead-letter queue', () => {
    const policy = resource(template, 'RequestDeadLetterQueuePolicy').Properties?.PolicyDocument as { Statement: unknown[] };

    expect(policy.Statement).toEqual([
      {
        Sid: 'SwitchoverRuleDeadLetters',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['RequestDeadLetterQueue', 'Arn'] },
        Condition: {
          ArnEquals: {
            'aws:SourceArn': {
              'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/pgpool-vip-dev/pgpool-vip-dev-switchover-requests',
            },
          },
        },
      },
    ]);
  });

  it('runs the reconciler every minute and on EC2 state changes', () => {
    const triggers = resourcesOfType(template, 'AWS::Events::Rule')
      .filter(([, rule]) => JSON.stringify(rule.Properties?.Targets).includes('ReconcileLambdaFunction'))
      .map(([, rule]) => rule.Properties?.ScheduleExpression ?? (rule.Properties?.EventPattern as { source: string[] }).source);

    expect(triggers).toHaveLength(2);
    expect(triggers).toContainEqual('rate(1 minute)');
    expect(triggers).toContainEqual(['aws.ec2']);
  });

  it('archives everything on the bus', () => {
    const archive = resource(template, 'BusArchive').Properties;

    expect(archive?.SourceArn).toEqual({ 'Fn::GetAtt': ['Bus', 'Arn'] });
    expect(archive?.EventPattern).toBeUndefined();
    expect(archive?.RetentionDays).toBe(90);
    expect(resource(template, 'Bus').Properties?.Name).toBe('pgpool-vip-dev');
  });
});

describe('Template: ledger and SSM document', () => {
  it('defines the ledger as lib/ledger-records.ts lays it out, on demand, with TTL and PITR', () => {
    const table = resource(template, 'LedgerTable');

    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byCluster',
          KeySchema: [
            { AttributeName: 'cluster', KeyType: 'HASH' },
            { AttributeName: 'recordedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('deploys infra/ssm-document.json as the JSON Command document', () => {
    const document = resource(template, 'AddressDocument').Properties;

    expect(document?.DocumentType).toBe('Command');
    expect(document?.DocumentFormat).toBe('JSON');
    expect(document?.Content).toEqual(JSON.parse(readFileSync(join(REPO_ROOT, 'infra/ssm-document.json'), 'utf8')));
  });
});

describe('Template: alarms, dashboard and saved queries', () => {
  it('alarms only on metrics the code emits, in its namespace', () => {
    const custom = alarmMetrics(template).filter((metric) => !metric.namespace.startsWith('AWS/'));

    const unknown = custom.filter((metric) => metric.namespace !== METRIC_NAMESPACE || !EMITTED_METRICS.has(metric.metricName));

    expect(custom.length).toBeGreaterThanOrEqual(5);
    expect(unknown).toEqual([]);
  });

  it('has the alarms the operations issue asks for', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([logicalId]) => logicalId);

    expect(alarms.sort()).toEqual(
      [
        'ControllerErrorsAlarm',
        'DeadLetterAlarm',
        'DriftAlarm',
        'FlappingAlarm',
        'ReconcilerHeartbeatAlarm',
        'RejectedRequestAlarm',
        'SsmFailureAlarm',
        'SwitchoverFailedAlarm',
      ].sort(),
    );
  });

  it('alarms when the reconciler stops running: no invocation in a window of several schedule intervals, missing data breaching', () => {
    const heartbeat = resource(template, 'ReconcilerHeartbeatAlarm').Properties ?? {};
    const [[, schedule] = []] = resourcesOfType(template, 'AWS::Events::Rule').filter(
      ([, rule]) => typeof rule.Properties?.ScheduleExpression === 'string' && JSON.stringify(rule.Properties.Targets).includes('ReconcileLambdaFunction'),
    );
    const scheduleSeconds = rateSeconds(String(schedule?.Properties?.ScheduleExpression));
    const windowSeconds = Number(heartbeat.Period) * Number(heartbeat.EvaluationPeriods);

    expect([heartbeat.Namespace, heartbeat.MetricName, heartbeat.Dimensions, heartbeat.Statistic]).toEqual([
      'AWS/Lambda',
      'Invocations',
      [{ Name: 'FunctionName', Value: { Ref: 'ReconcileLambdaFunction' } }],
      'Sum',
    ]);
    expect([heartbeat.ComparisonOperator, heartbeat.Threshold]).toEqual(['LessThanThreshold', 1]);
    // Lambda sends no data point for a minute without a run: only missing data can say it stopped.
    expect(heartbeat.TreatMissingData).toBe('breaching');
    // Every period of the window must be empty, and the window spans several runs, so one late run is no alarm.
    expect(heartbeat.DatapointsToAlarm).toBe(heartbeat.EvaluationPeriods);
    expect(Number(heartbeat.Period)).toBeGreaterThanOrEqual(scheduleSeconds);
    expect(windowSeconds).toBeGreaterThanOrEqual(3 * scheduleSeconds);
    expect(windowSeconds).toBeLessThanOrEqual(10 * scheduleSeconds);
    expect(heartbeat.AlarmActions).toEqual([{ Ref: 'OperatorTopic' }]);
  });

  it('treats missing data as breaching for the heartbeat alone: the other alarms watch for rare events', () => {
    const missing = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([logicalId, alarm]) => [logicalId, alarm.Properties?.TreatMissingData]);

    expect(missing.filter(([, treat]) => treat === 'breaching')).toEqual([['ReconcilerHeartbeatAlarm', 'breaching']]);
    expect(missing.filter(([, treat]) => treat !== 'breaching').every(([, treat]) => treat === 'notBreaching')).toBe(true);
  });

  it('lists every alarm in docs/audit.md, with its missing-data treatment', () => {
    const documented = new Map(
      [...readFileSync(join(REPO_ROOT, 'docs/audit.md'), 'utf8').matchAll(/^\| `(pgpool-vip-<stage>-[a-z-]+)` \|[^|]*\| (\*\*breaching\*\*|not breaching) \|$/gm)].map(
        ([, name, treat]) => [name, treat === 'not breaching' ? 'notBreaching' : 'breaching'],
      ),
    );
    const deployed = new Map(
      resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => [String(alarm.Properties?.AlarmName).replace('-dev-', '-<stage>-'), alarm.Properties?.TreatMissingData]),
    );

    expect(documented).toEqual(deployed);
  });

  it('charts only metrics the code emits, and every one of them', () => {
    const custom = dashboardMetrics(template).filter((metric) => !metric.namespace.startsWith('AWS/'));

    const unknown = custom.filter((metric) => metric.namespace !== METRIC_NAMESPACE || !EMITTED_METRICS.has(metric.metricName));
    const charted = new Set(custom.map((metric) => metric.metricName));

    expect(unknown).toEqual([]);
    expect([...EMITTED_METRICS].filter((name) => !charted.has(name))).toEqual([]);
  });

  it('shows every alarm on the dashboard', () => {
    const body = JSON.stringify(resource(template, 'Dashboard').Properties?.DashboardBody);
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([logicalId]) => logicalId);

    expect(dashboardBody(template).widgets.length).toBeGreaterThan(5);
    expect(alarms.filter((logicalId) => !body.includes(`\${${logicalId}.Arn}`))).toEqual([]);
  });

  it('saves the three audit queries over the switchover log group, filtered on the audit message', () => {
    const queries = resourcesOfType(template, 'AWS::Logs::QueryDefinition').map(([, query]) => query.Properties ?? {});

    expect(queries.map((query) => query.Name).sort()).toEqual([
      'pgpool-vip/dev/refused-requests',
      'pgpool-vip/dev/slowest-switchovers',
      'pgpool-vip/dev/switchover-history',
    ]);
    for (const query of queries) {
      expect(query.LogGroupNames).toEqual([{ Ref: 'SwitchoverLogGroup' }]);
      expect(query.QueryString).toContain(`filter message = "${AUDIT_MESSAGE}"`);
    }
  });
});
