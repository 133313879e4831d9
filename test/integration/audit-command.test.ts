import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../agent/audit-command.ts';
import type { AgentIo } from '../../agent/io.ts';
import { AUDIT_MESSAGE } from '../../lib/telemetry.ts';
import { sharedMoto } from '../kit/moto.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';

let moto: ReturnType<typeof sharedMoto>;
let harness: Harness;
const results: Array<{ requestId: string; outcome: string }> = [];

function captureIo(): AgentIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, env: {}, stdout: (line) => out.push(line), stderr: (line) => err.push(line) };
}

async function send(index: number, action: 'up' | 'down', issuedAt: Date): Promise<void> {
  const instance = harness.world.instances[index];
  if (instance === undefined) throw new Error(`no instance ${index}`);
  const detail = await signedDetail(harness.world, instance, { action, stsEndpoint: moto.endpoint, issuedAt });
  const result = await harness.invoke(envelope(detail, harness.world));
  results.push({ requestId: detail.requestId, outcome: result.outcome });
}

beforeAll(async () => {
  moto = sharedMoto();
  harness = await createHarness(moto.endpoint);
  // Real switchovers: node1 up, node2 up (takes over), node1's late down, and an up older than node2's (stale).
  const start = Date.now();
  await send(0, 'up', new Date(start - 20_000));
  await send(1, 'up', new Date(start - 10_000));
  await send(0, 'down', new Date(start - 5_000));
  await send(0, 'up', new Date(start - 15_000));
});
afterAll(async () => {
  await moto?.stop();
});

function target(): string[] {
  const cluster = harness.world.config.clusters[0]?.name ?? '';
  return ['--cluster', cluster, '--ledger-table', harness.world.ledgerTable, '--region', 'us-east-1'];
}

describe('Function: runAudit (against a moto ledger filled by real switchovers)', () => {
  it('lists every outcome of the cluster, newest first', async () => {
    // Prepare
    const io = captureIo();
    // Act
    const code = await runAudit([...target(), '--json'], io, { dynamodb: harness.clients.dynamodb });
    // Assess
    expect(code).toBe(0);
    expect(io.err).toEqual([]);
    const records = JSON.parse(io.out.join('\n')) as Array<{ requestId: string; status: string; recordedAt: string; instanceId: string }>;
    expect(records.map((record) => [record.requestId, record.status])).toEqual(
      [...results].reverse().map((result) => [result.requestId, result.outcome]),
    );
    expect(results.map((result) => result.outcome)).toEqual(['applied', 'applied', 'noop', 'stale']);
    const times = records.map((record) => record.recordedAt);
    expect(times).toEqual([...times].sort().reverse());
  });

  it('prints a text line per outcome with the holder change', async () => {
    const io = captureIo();
    const [node1, node2] = harness.world.instances;

    const code = await runAudit(target(), io, { dynamodb: harness.clients.dynamodb });

    expect(code).toBe(0);
    expect(io.out[0]).toMatch(/^RECORDED AT\s+OUTCOME/);
    const takeover = io.out.find((line) => line.includes(results[1]?.requestId ?? 'none'));
    expect(takeover).toContain(`${node1?.instanceId} -> ${node2?.instanceId}`);
    expect(io.out.some((line) => /^ {4}.*older than this instance's own later down/.test(line))).toBe(true);
  });

  it('honours --limit and a --since in the future of every record', async () => {
    const limited = captureIo();
    const none = captureIo();
    const later = new Date(Date.now() - 1).toISOString();

    await runAudit([...target(), '--json', '--limit', '2'], limited, { dynamodb: harness.clients.dynamodb });
    const code = await runAudit([...target(), '--since', later], none, { dynamodb: harness.clients.dynamodb });

    expect((JSON.parse(limited.out.join('\n')) as unknown[]).length).toBe(2);
    expect(code).toBe(0);
    expect(none.out).toEqual([expect.stringMatching(/^no switchovers recorded for cluster .* since /)]);
  });

  it('runs the history query on a log group with --insights --log-group', async () => {
    const logGroupName = `/aws/lambda/${harness.world.ledgerTable}-switchover`;
    await harness.clients.logs.send(new CreateLogGroupCommand({ logGroupName }));
    await harness.clients.logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName: 'one' }));
    const now = Date.now();
    await harness.clients.logs.send(
      new PutLogEventsCommand({
        logGroupName,
        logStreamName: 'one',
        logEvents: results.map((result, index) => ({
          timestamp: now - 60_000 + index * 1000,
          message: JSON.stringify({ level: 'INFO', message: AUDIT_MESSAGE, cluster: harness.world.config.clusters[0]?.name, ...result }),
        })),
      }),
    );
    const io = captureIo();

    const code = await runAudit([...target(), '--insights', '--log-group', logGroupName, '--json', '--since', '1h'], io, { logs: harness.clients.logs });

    expect(io.err).toEqual([]);
    expect(code).toBe(0);
    // moto answers only @timestamp (it does not parse JSON fields); the order is newest first.
    const rows = JSON.parse(io.out.join('\n')) as Array<Record<string, string>>;
    expect(rows).toHaveLength(results.length);
    const stamps = rows.map((row) => Number(row['@timestamp']));
    expect(stamps).toEqual([...stamps].sort((a, b) => b - a));
  });
});
