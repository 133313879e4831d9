import { spawnSync } from 'node:child_process';
import { DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClients, motoClients, type AwsClients } from '../../local/aws-clients.ts';
import { startLocalController } from '../../local/controller.ts';
import { sharedMoto } from '../kit/moto.ts';
import { createWorld, type World } from '../../local/world.ts';
import { DynamoLedger } from '../../functions/adapters/ledger.ts';
import { startPgpoolTree, type PgpoolTree } from '../support/pgpool-tree.ts';
import { buildAgentBundle, runAgent, startAgentNode, type AgentNode } from '../../local/agent-node.ts';

// The host's loopback stands in for eth0 (see agent-switchover.test.ts); moto's SSM runs no
// command, so the agent runs with --no-interface-check.
const IFACE = 'lo';
const UP = ['up', '198.19.0.50', IFACE, '--no-interface-check'] as const;
const DOWN = ['down', '198.19.0.50', IFACE, '--no-interface-check'] as const;
const FAKETIME = spawnSync('faketime', ['-f', '+0s', 'true']).status === 0;

let moto: ReturnType<typeof sharedMoto>;
let clients: AwsClients;
let bundle: Awaited<ReturnType<typeof buildAgentBundle>>;
const started: { stop(): Promise<void> }[] = [];
const trees: PgpoolTree[] = [];
let worldCount = 0;

beforeAll(async () => {
  moto = sharedMoto();
  bundle = await buildAgentBundle();
  clients = motoClients(moto.endpoint);
});
afterAll(async () => {
  for (const tree of trees) await tree.kill();
  for (const thing of started.reverse()) await thing.stop();
  if (clients !== undefined) destroyClients(clients);
  await moto?.stop();
  await bundle?.remove();
});

async function twoNodeWorld(): Promise<{ world: World; nodes: [AgentNode, AgentNode] }> {
  worldCount += 1;
  const world = await createWorld(clients, { prefix: `al${worldCount}-${process.pid}-`, instanceCount: 2 });
  const cluster = world.config.clusters[0];
  started.push(startLocalController({ endpoint: moto.endpoint, world, configOverrides: { clusters: [{ ...cluster, interface: IFACE }] } }));
  const nodes = await Promise.all([0, 1].map((index) => startAgentNode(world, index, { awsEndpoint: moto.endpoint, dir: bundle.dir })));
  for (const node of nodes) started.push(node.imds);
  return { world, nodes: nodes as [AgentNode, AgentNode] };
}

async function routeTarget(world: World): Promise<string | null> {
  const tables = await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: world.routeTableIds }));
  const route = tables.RouteTables?.[0]?.Routes?.find((candidate) => candidate.DestinationCidrBlock === '198.19.0.50/32');
  return route?.NetworkInterfaceId ?? null;
}

async function pgpool(): Promise<PgpoolTree> {
  const tree = await startPgpoolTree(bundle.dir);
  trees.push(tree);
  return tree;
}

describe('Function: pgpool-vip up/down run by pgpool (bundled agent, process tree named pgpool, moto)', () => {
  it('takes the VIP for a restarted pgpool the majority elects, and exits 1 for the isolated old leader re-acquiring it', async () => {
    // Prepare: pgpool-2 leads; its pgpool is killed (no down) and pgpool-1 is elected.
    const { world, nodes } = await twoNodeWorld();
    const [pgpool1, pgpool2] = nodes;
    const crashed = await pgpool();
    expect((await crashed.run('escalation', process.execPath, [bundle.bundle, ...UP], pgpool2.env)).code).toBe(0);
    await crashed.kill();
    const isolated = await pgpool();
    // This node's pgpool.conf puts a wrapper script in front of the agent (as the drill does).
    const wrapped = ['-c', '"$@"; exit $?', 'if-cmd-wrapper', process.execPath, bundle.bundle, ...UP];
    expect((await isolated.run('escalation', '/bin/sh', wrapped, pgpool1.env)).code).toBe(0);

    // Act: pgpool-2's pgpool restarts and is elected; pgpool-1, isolated, re-runs if_up_cmd from
    // its watchdog when fenced, and resigns once it notices it lost quorum.
    const restarted = await pgpool();
    const elected = await restarted.run('escalation', process.execPath, [bundle.bundle, ...UP], pgpool2.env);
    const reacquire = await isolated.run('reacquire', process.execPath, [bundle.bundle, ...UP], pgpool1.env);
    const routeAfterReacquire = await routeTarget(world);
    const resign = await isolated.run('escalation', process.execPath, [bundle.bundle, ...DOWN], pgpool1.env);

    // Assess
    expect([elected.code, elected.stderr]).toEqual([0, '']);
    expect(reacquire.code).toBe(1);
    expect(reacquire.stderr).toMatch(
      new RegExp(`^pgpool-vip: controller stale request [0-9a-f-]{36}: ${pgpool1.instance.instanceId} lost the VIP to ${pgpool2.instance.instanceId} at .* re-acquiring it in the same leadership`),
    );
    expect(routeAfterReacquire).toBe(pgpool2.instance.eni);
    expect([resign.code, resign.stderr]).toEqual([0, '']);
    expect(await routeTarget(world)).toBe(pgpool2.instance.eni);
    const vip = await new DynamoLedger(clients.dynamodb, world.ledgerTable).readVip(world.config.clusters[0]?.name ?? '');
    const electedIncarnation = vip?.members?.[pgpool2.instance.instanceId]?.upIncarnation;
    expect(electedIncarnation?.watchdog).toBe(`${restarted.watchdogPid}@${electedIncarnation?.watchdog.split('@')[1]}`);
    expect(electedIncarnation?.escalation).toMatch(/^\d+@\d+$/);
    expect(vip?.members?.[pgpool1.instance.instanceId]?.upIncarnation?.watchdog).toMatch(new RegExp(`^${isolated.watchdogPid}@`));
  }, 120_000);

  it.skipIf(!FAKETIME)("moves the VIP to a node whose up comes after, by the ledger, a holder whose clock runs 9 s fast (faketime)", async () => {
    const { world, nodes } = await twoNodeWorld();
    const [fast, normal] = nodes;
    const skewed = await (await pgpool()).run('escalation', 'faketime', ['-f', '+9s', process.execPath, bundle.bundle, ...UP], {
      ...fast.env,
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    expect([skewed.code, skewed.stderr]).toEqual([0, '']);

    const run = await runAgent(bundle.bundle, UP, normal.env);

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(await routeTarget(world)).toBe(normal.instance.eni);
    const vip = await new DynamoLedger(clients.dynamodb, world.ledgerTable).readVip(world.config.clusters[0]?.name ?? '');
    const fastUp = Date.parse(vip?.members?.[fast.instance.instanceId]?.upIssuedAt ?? '');
    expect(fastUp).toBeGreaterThan(Date.parse(vip?.upIssuedAt ?? ''));
  }, 120_000);
});

if (!FAKETIME) {
  describe('Function: pgpool-vip with a skewed clock', () => {
    it.skip("needs Debian's faketime (apt-get install faketime): skipped", () => undefined);
  });
}
