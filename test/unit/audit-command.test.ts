import { CloudWatchLogsClient, DescribeQueryDefinitionsCommand, GetQueryResultsCommand, StartQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSince, runAudit } from '../../agent/audit-command.ts';
import { historyLines } from '../../agent/audit-history.ts';
import { clusterQuery } from '../../agent/audit-insights.ts';
import type { AgentIo } from '../../agent/io.ts';
import type { RequestRecord } from '../../lib/ledger-records.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');

function captureIo(env: NodeJS.ProcessEnv = {}): AgentIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, env, stdout: (line) => out.push(line), stderr: (line) => err.push(line) };
}

const dynamodbMock = mockClient(DynamoDBClient);
const logsMock = mockClient(CloudWatchLogsClient);
const clients = () => ({
  dynamodb: new DynamoDBClient({ region: 'us-east-1' }),
  logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
  now: () => NOW,
});
const TARGET = ['--cluster', 'main', '--ledger-table', 'pgpool-vip-ledger', '--region', 'us-east-1'];

beforeEach(() => {
  dynamodbMock.reset();
  logsMock.reset();
});
// The mocks replace send on every client of the class in this process: the next file's are real.
afterAll(() => {
  dynamodbMock.restore();
  logsMock.restore();
});

describe('Function: parseSince', () => {
  it('reads durations back from now', () => {
    expect(parseSince('90s', NOW).toISOString()).toBe('2026-11-25T11:58:30.000Z');
    expect(parseSince('24h', NOW).toISOString()).toBe('2026-11-24T12:00:00.000Z');
    expect(parseSince('2w', NOW).toISOString()).toBe('2026-11-11T12:00:00.000Z');
  });

  it('reads ISO times and dates', () => {
    expect(parseSince('2026-11-25T10:00:00Z', NOW).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(parseSince('2026-11-20', NOW).toISOString()).toBe('2026-11-20T00:00:00.000Z');
  });

  it('refuses anything else, and times in the future', () => {
    expect(() => parseSince('yesterday', NOW)).toThrow("--since 'yesterday' is neither an ISO time");
    expect(() => parseSince('24 h', NOW)).toThrow(/neither an ISO time/);
    expect(() => parseSince('2026-11-26T00:00:00Z', NOW)).toThrow('is in the future');
  });
});

describe('Function: runAudit (usage)', () => {
  it.each([
    [['--since', 'soon'], "pgpool-vip: --since 'soon' is neither an ISO time (2026-11-25T10:00:00Z) nor a duration like 30m, 24h or 7d"],
    [['--limit', '0'], "pgpool-vip: audit: --limit '0' must be a whole number from 1 to 1000"],
    [['--limit', 'ten'], "pgpool-vip: audit: --limit 'ten' must be a whole number from 1 to 1000"],
    [['--log-group', 'x'], 'pgpool-vip: audit: --log-group applies only with --insights'],
    [['--frobnicate'], "pgpool-vip: audit: unknown option '--frobnicate'; see pgpool-vip audit --help"],
    [['--since'], "pgpool-vip: audit: option '--since' needs a value"],
    [['history'], "pgpool-vip: audit: unexpected argument 'history'; see pgpool-vip audit --help"],
    [['--cluster', 'a b'], "pgpool-vip: audit: --cluster 'a b' is not a cluster name (letters, digits, _ . -)"],
  ])('exits 2 on %j with one clear line and calls nothing', async (args, message) => {
    // Prepare
    const io = captureIo();
    // Act
    const code = await runAudit([...TARGET, ...args], io, clients());
    // Assess
    expect(code).toBe(2);
    expect(io.err).toEqual([message]);
    expect(io.out).toEqual([]);
    expect(dynamodbMock.calls()).toHaveLength(0);
    expect(logsMock.calls()).toHaveLength(0);
  });

  it('exits 2 naming the missing config and the flags that replace it', async () => {
    const io = captureIo({ PGPOOL_VIP_AGENT_CONFIG: '/nonexistent/agent.json' });

    const code = await runAudit(['--region', 'us-east-1'], io, clients());

    expect(code).toBe(2);
    expect(io.err).toEqual([
      'pgpool-vip: config /nonexistent/agent.json does not exist; or name the cluster with --cluster and the ledger with --ledger-table',
    ]);
    expect(dynamodbMock.calls()).toHaveLength(0);
  });

  it('exits 2 saying what to pass when no region is given and IMDS does not answer', async () => {
    // A loopback port nobody listens on stands in for IMDS off an instance.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const io = captureIo({ AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint });

    const code = await runAudit(['--cluster', 'main', '--ledger-table', 'pgpool-vip-ledger'], io, clients());

    expect(code).toBe(2);
    expect(io.err).toHaveLength(1);
    expect(io.err[0]).toMatch(
      new RegExp(`^pgpool-vip: audit: no region: pass --region, set region in the agent config or AWS_REGION, or run it on an instance \\(IMDS at ${endpoint}: .+\\)$`),
    );
    expect(dynamodbMock.calls()).toHaveLength(0);
  });

  it('takes the region from AWS_REGION before asking IMDS', async () => {
    dynamodbMock.on(QueryCommand).resolves({ Items: [] });
    const io = captureIo({ AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9' });

    const code = await runAudit(['--cluster', 'main', '--ledger-table', 'pgpool-vip-ledger'], io, clients());

    expect([code, io.err]).toEqual([0, []]);
    expect(io.out).toEqual(['no switchovers recorded for cluster main in pgpool-vip-ledger']);
  });

  it('prints its help on stdout and exits 0', async () => {
    const io = captureIo();

    expect(await runAudit(['--help'], io, clients())).toBe(0);
    expect(io.out.join('\n')).toMatch(/^Usage:\n {2}pgpool-vip audit \[options\]/);
    expect(io.err).toEqual([]);
  });
});

describe('Function: runAudit (ledger)', () => {
  it('queries the byCluster index newest first, from --since, up to --limit', async () => {
    dynamodbMock.on(QueryCommand).resolves({ Items: [] });
    const io = captureIo();

    const code = await runAudit([...TARGET, '--since', '24h', '--limit', '5'], io, clients());

    expect(code).toBe(0);
    expect(dynamodbMock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'pgpool-vip-ledger',
      IndexName: 'byCluster',
      KeyConditionExpression: '#cluster = :cluster AND #recordedAt >= :since',
      ExpressionAttributeValues: { ':cluster': { S: 'main' }, ':since': { S: '2026-11-24T12:00:00.000Z' } },
      ScanIndexForward: false,
      Limit: 5,
    });
    expect(io.out).toEqual(['no switchovers recorded for cluster main since 2026-11-24T12:00:00.000Z in pgpool-vip-ledger']);
  });

  it('exits 1 with the AWS error on one line', async () => {
    dynamodbMock.on(QueryCommand).rejects(Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }));
    const io = captureIo();

    const code = await runAudit(TARGET, io, clients());

    expect(code).toBe(1);
    expect(io.err).toEqual(['pgpool-vip: audit failed: ResourceNotFoundException: Requested resource not found']);
  });

  it('skips, and names, an item that does not fit the request schema', async () => {
    dynamodbMock.on(QueryCommand).resolves({ Items: [{ pk: { S: 'request#x' }, cluster: { S: 'main' }, status: { S: 'exploded' } }] });
    const io = captureIo();

    const code = await runAudit(TARGET, io, clients());

    expect(code).toBe(0);
    expect(io.err).toEqual([expect.stringMatching(/^pgpool-vip: skipped a ledger item that does not fit the request schema: request#x: /)]);
  });
});

describe('Function: historyLines', () => {
  const record: RequestRecord = {
    pk: 'request#5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b',
    requestId: '5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b',
    cluster: 'main',
    vip: '198.19.0.50',
    action: 'up',
    instanceId: 'i-0a632a8349b701357',
    status: 'failed',
    reason: 'SSM command c0ffee (add) ended Failed:\nno interface',
    failedStep: 'ssm-add',
    holderBefore: 'i-0b1c2d3e4f5a69788',
    holderAfter: 'i-0a632a8349b701357',
    recordedAt: '2026-11-25T10:00:01.350Z',
    durationMs: 1250,
    ttl: 1,
  };

  it('prints one line per outcome and the reason on one indented line', () => {
    const lines = historyLines([record]);

    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^2026-11-25T10:00:01\.350Z\s+failed\s+up\s+i-0a632a8349b701357\s+i-0b1c2d3e4f5a69788 -> i-0a632a8349b701357\s+1250\s+5b0c6a8e-/);
    expect(lines[2]).toBe('    ssm-add: SSM command c0ffee (add) ended Failed: no interface');
  });

  it('marks a dry run and a break-glass after the request id, and nothing else', () => {
    const plain = { ...record, status: 'applied' as const, reason: null, failedStep: null };

    const [, dry, glass, , normal] = historyLines([{ ...plain, dryRun: true }, { ...plain, breakGlass: true, reason: 'break-glass by arn:aws:sts::123456789012:assumed-role/ops/alice: INC-4711' }, plain]);

    expect(dry).toMatch(/ 5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b \(dry run\)$/);
    expect(glass).toMatch(/ 5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b \(break-glass\)$/);
    expect(normal).toMatch(/ 5b0c6a8e-7c57-4b5e-9a56-0c1d2e3f4a5b$/);
  });
});

describe('Function: runAudit --insights', () => {
  it('runs the one saved history query on its log group, limited to the cluster', async () => {
    logsMock.on(DescribeQueryDefinitionsCommand).resolves({
      queryDefinitions: [
        { name: 'pgpool-vip/dev/refused-requests', queryString: 'fields requestId', logGroupNames: ['/aws/lambda/pgpool-vip-dev-switchover'] },
        { name: 'pgpool-vip/dev/switchover-history', queryString: 'fields @timestamp, outcome\n| limit 1000', logGroupNames: ['/aws/lambda/pgpool-vip-dev-switchover'] },
      ],
    });
    logsMock.on(StartQueryCommand).resolves({ queryId: 'q-1' });
    logsMock.on(GetQueryResultsCommand).resolvesOnce({ status: 'Running' }).resolves({
      status: 'Complete',
      results: [[{ field: '@timestamp', value: '2026-11-25 10:00:01.350' }, { field: 'outcome', value: 'applied' }, { field: '@ptr', value: 'abc' }]],
    });
    const io = captureIo();

    const code = await runAudit(['--insights', '--cluster', 'main', '--region', 'us-east-1', '--since', '1h'], io, clients());

    expect(code).toBe(0);
    expect(logsMock.commandCalls(StartQueryCommand)[0]?.args[0].input).toEqual({
      logGroupNames: ['/aws/lambda/pgpool-vip-dev-switchover'],
      queryString: 'filter cluster = "main"\n| fields @timestamp, outcome\n| limit 1000',
      startTime: Math.floor(NOW.getTime() / 1000) - 3600,
      endTime: Math.floor(NOW.getTime() / 1000),
      limit: 20,
    });
    expect(io.out).toEqual(['@timestamp=2026-11-25 10:00:01.350  outcome=applied']);
  });

  it('exits 2 and lists the candidates when several stages have a history query', async () => {
    logsMock.on(DescribeQueryDefinitionsCommand).resolves({
      queryDefinitions: [
        { name: 'pgpool-vip/dev/switchover-history', queryString: 'x', logGroupNames: ['a'] },
        { name: 'pgpool-vip/prod/switchover-history', queryString: 'x', logGroupNames: ['b'] },
      ],
    });
    const io = captureIo();

    const code = await runAudit(['--insights', '--cluster', 'main', '--region', 'us-east-1'], io, clients());

    expect(code).toBe(2);
    expect(io.err).toEqual([
      'pgpool-vip: several saved history queries (pgpool-vip/dev/switchover-history, pgpool-vip/prod/switchover-history); choose one with --query NAME',
    ]);
    expect(logsMock.commandCalls(StartQueryCommand)).toHaveLength(0);
  });

  it('exits 1 when the query ends other than Complete', async () => {
    logsMock.on(StartQueryCommand).resolves({ queryId: 'q-2' });
    logsMock.on(GetQueryResultsCommand).resolves({ status: 'Failed' });
    const io = captureIo();

    const code = await runAudit(['--insights', '--cluster', 'main', '--region', 'us-east-1', '--log-group', '/aws/lambda/x'], io, clients());

    expect(code).toBe(1);
    expect(io.err).toEqual(['pgpool-vip: Logs Insights query q-2 ended Failed']);
  });

  it('puts the cluster filter in front of the saved text', () => {
    expect(clusterQuery('  fields a\n| limit 5\n', 'main')).toBe('filter cluster = "main"\n| fields a\n| limit 5');
  });
});
