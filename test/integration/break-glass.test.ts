import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsReconcilePorts } from '../../functions/adapters/aws-ports.ts';
import { createReconcileHandler } from '../../functions/reconcile/reconcile-flow.ts';
import { parseControllerConfig } from '../../lib/cluster-config.ts';
import { finished } from '../../local/child-output.ts';
import { localContext } from '../../local/controller.ts';
import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import { main as breakGlassCommand } from '../../scripts/break-glass.ts';
import type { WorldInstance } from '../../local/world.ts';
import { sharedMoto } from '../kit/moto.ts';
import { reusedWorld } from '../kit/reused-world.ts';

// The runbook's command against moto, as on-call runs it: `npm run break-glass` in a child
// process with the operator's credentials in its environment. The controller (the real handler)
// and the reconciler (the real handler, heal on) then run on the same world. The refusal and the
// --no-ssm run call the same command's main in this process, with the same arguments and keys.

/** What moto's STS answers GetCallerIdentity with for access keys it never issued: the operator here. */
const OPERATOR = 'arn:aws:sts::123456789012:user/moto';

let moto: ReturnType<typeof sharedMoto>;
let dir = '';
beforeAll(async () => {
  moto = sharedMoto();
  dir = await mkdtemp(join(tmpdir(), 'pgpool-vip-break-glass-'));
});
afterAll(async () => {
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

type Run = { code: number | null; stdout: string; stderr: string };

/** The specs on one route table share a world, reset between them (a spec puts back the tags it removes). */
const oneTable = reusedWorld(() => moto.endpoint);

async function breakGlass(harness: Harness, args: string[], where: 'child process' | 'in process' = 'child process'): Promise<Run> {
  const configFile = join(dir, `${randomUUID()}.json`);
  await writeFile(configFile, JSON.stringify(harness.world.config));
  const argv = ['--stage', 'test', '--config', configFile, '--ledger-table', harness.world.ledgerTable, '--cluster', harness.world.config.clusters[0]?.name ?? '', ...args];
  if (where === 'in process') {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await breakGlassCommand(argv, { AWS_REGION: harness.world.region }, {
      out: (line) => stdout.push(`${line}\n`),
      err: (line) => stderr.push(`${line}\n`),
      aws: { endpoint: moto.endpoint, credentials: { accessKeyId: 'operator', secretAccessKey: 'operator' } },
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  }
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'operator',
    AWS_SECRET_ACCESS_KEY: 'operator',
    AWS_REGION: harness.world.region,
    AWS_CONFIG_FILE: '/nonexistent/pgpool-vip-test/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/pgpool-vip-test/credentials',
    // This machine's Node may be older than the repository's 22 (vitest.config.ts quiets the same notice).
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const { status: code, stdout, stderr } = await finished(spawn('npm', ['run', '--silent', 'break-glass', '--', ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  return { code, stdout, stderr };
}

async function up(harness: Harness, instance: WorldInstance | undefined, issuedAt?: Date) {
  if (instance === undefined) throw new Error('no instance');
  const detail = await signedDetail(harness.world, instance, { action: 'up', stsEndpoint: moto.endpoint, ...(issuedAt ? { issuedAt } : {}) });
  return await harness.invoke(envelope(detail, harness.world));
}

function reconcileWithHeal(harness: Harness) {
  const [cluster] = harness.world.config.clusters;
  const handler = createReconcileHandler({
    config: parseControllerConfig({ ...harness.world.config, clusters: [{ ...cluster, heal: true }] }),
    ports: awsReconcilePorts(harness.clients, harness.world.ledgerTable),
    logger: new Logger({ serviceName: 'pgpool-vip', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'PgpoolVip', serviceName: 'pgpool-vip' }),
    confirmDelayMs: 0,
  });
  const event = { version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: harness.world.accountId, time: new Date().toISOString(), region: harness.world.region, resources: [], detail: {} };
  return handler(event, localContext());
}

describe('Runbook: npm run break-glass (against moto)', () => {
  it('moves the route in every table and the ledger to the elected node, the healing reconciler leaves it, and later requests are decided on it', async () => {
    const harness = await createHarness(moto.endpoint, { routeTableCount: 2 });
    const [node1, node2, node3] = harness.world.instances as [WorldInstance, WorldInstance, WorldInstance];
    const [table1, table2] = harness.world.routeTableIds as [string, string];
    expect((await up(harness, node1, new Date(Date.now() - 5000))).outcome).toBe('applied');
    const before = await harness.vip();
    // pgpool elected node2 and its up timed out (the controller is down): its request was issued now.
    const electedAt = new Date(Date.now() - 1000);

    const run = await breakGlass(harness, ['--to', node2.instanceId, '--reason', 'INC-4711 EventBridge outage']);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const requestId = /request ([0-9a-f-]{36}),/.exec(run.stdout)?.[1] ?? '';
    expect(run.stdout.split('\n')).toEqual([
      `break-glass: cluster ${harness.world.config.clusters[0]?.name}, VIP 198.19.0.50 -> ${node2.instanceId} (${node2.eni}), request ${requestId}, by ${OPERATOR}`,
      `  ledger: vip#${harness.world.config.clusters[0]?.name} version ${before?.version} -> ${(before?.version ?? 0) + 1}, holder ${node1.instanceId} -> ${node2.instanceId}`,
      `  route 198.19.0.50/32 in ${table1}: replace (${node1.eni} -> ${node2.eni})`,
      `  route 198.19.0.50/32 in ${table2}: replace (${node1.eni} -> ${node2.eni})`,
      `  source/dest check turned off on ${node2.eni}`,
      expect.stringMatching(new RegExp(`^  SSM add on ${node2.instanceId}: Success \\(command [0-9a-f-]{36}\\)$`)),
      expect.stringMatching(new RegExp(`^  SSM remove on (${node1.instanceId}, ${node3.instanceId}|${node3.instanceId}, ${node1.instanceId}): Sent \\(command [0-9a-f-]{36}\\)$`)),
      `  applied: break-glass by ${OPERATOR}: INC-4711 EventBridge outage`,
      '',
    ]);
    // Routes moved in all tables; the ledger names the new holder, with the break-glass request audited.
    expect(await harness.routeTargets()).toEqual({ [table1]: node2.eni, [table2]: node2.eni });
    expect(await harness.vip()).toMatchObject({ holderInstanceId: node2.instanceId, holderEni: node2.eni, released: false, version: (before?.version ?? 0) + 1, upRequestId: requestId, displacedInstanceId: node1.instanceId });
    expect(await harness.request(requestId)).toMatchObject({
      status: 'applied',
      breakGlass: true,
      action: 'up',
      instanceId: node2.instanceId,
      callerArn: OPERATOR,
      holderBefore: node1.instanceId,
      holderAfter: node2.instanceId,
    });

    // The reconciler with heal on finds the routes where the ledger says, and moves nothing.
    const reconciled = await reconcileWithHeal(harness);
    expect(reconciled.clusters[0]).toMatchObject({ healthy: true, drifts: [] });
    expect(await harness.routeTargets()).toEqual({ [table1]: node2.eni, [table2]: node2.eni });

    // node2's own up, delayed by the outage and issued before the break-glass, converges on it.
    const delayed = await up(harness, node2, electedAt);
    expect(['noop', 'applied']).toContain(delayed.outcome);
    expect(await harness.routeTargets()).toEqual({ [table1]: node2.eni, [table2]: node2.eni });
    expect((await harness.vip())?.holderInstanceId).toBe(node2.instanceId);

    // A later up from another member still takes the VIP, in every table.
    const later = await up(harness, node3);
    expect(later).toMatchObject({ outcome: 'applied', holderBefore: node2.instanceId, holderAfter: node3.instanceId });
    expect(await harness.routeTargets()).toEqual({ [table1]: node3.eni, [table2]: node3.eni });
  });

  it('refuses an instance that is not a member and changes nothing', async () => {
    const harness = await oneTable();
    const [node1, node2] = harness.world.instances as [WorldInstance, WorldInstance];
    await up(harness, node1);
    const cluster = harness.world.config.clusters[0]?.name ?? '';
    await harness.clients.ec2.send(new DeleteTagsCommand({ Resources: [node2.instanceId], Tags: [{ Key: 'pgpool-vip:cluster' }] }));
    const routes = await harness.routeTargets();
    const vip = await harness.vip();

    const run = await breakGlass(harness, ['--to', node2.instanceId, '--reason', 'wrong node'], 'in process');

    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`break-glass: refused, nothing changed: instance ${node2.instanceId} is not a member of cluster "${cluster}" (missing tag pgpool-vip:cluster=${cluster})`);
    expect(await harness.routeTargets()).toEqual(routes);
    expect(await harness.vip()).toEqual(vip);
    await harness.clients.ec2.send(new CreateTagsCommand({ Resources: [node2.instanceId], Tags: [{ Key: 'pgpool-vip:cluster', Value: cluster }] }));
  });

  it('with --no-ssm sends no command and prints what on-call runs on the node', async () => {
    const harness = await oneTable();
    const [, node2] = harness.world.instances as [WorldInstance, WorldInstance];

    const run = await breakGlass(harness, ['--to', node2.instanceId, '--reason', 'SSM down too', '--no-ssm'], 'in process');

    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('SSM add');
    expect(run.stdout).toContain(`  the VIP is not confirmed on the instance's interface: on ${node2.instanceId} run: sudo ip addr add 198.19.0.50/32 dev eth0\n`);
    expect(await harness.routeTargets()).toEqual({ [harness.world.routeTableIds[0] as string]: node2.eni });
  });
});
