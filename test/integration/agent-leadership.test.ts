import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { useAgentStage } from '../kit/agent-stage.ts';
import { type World } from '../../local/world.ts';
import { DynamoLedger } from '../../functions/adapters/ledger.ts';
import { startPgpoolTree, type PgpoolTree } from '../support/pgpool-tree.ts';
import { runAgent, type AgentNode } from '../../local/agent-node.ts';

// The host's loopback stands in for eth0 (see agent-switchover.test.ts); moto's SSM runs no
// command, so the agent runs with --no-interface-check.
const IFACE = 'lo';
const UP = ['up', '198.19.0.50', IFACE, '--no-interface-check'] as const;
const DOWN = ['down', '198.19.0.50', IFACE, '--no-interface-check'] as const;
const FAKETIME = spawnSync('faketime', ['-f', '+0s', 'true']).status === 0;

const stage = useAgentStage('al');
const trees: PgpoolTree[] = [];
afterAll(async () => {
  for (const tree of trees) await tree.kill();
});

async function twoNodeWorld(test: TestContext): Promise<{ world: World; nodes: [AgentNode, AgentNode] }> {
  const world = await stage.world();
  stage.controller(world, test);
  const nodes = await Promise.all([stage.node(world, 0), stage.node(world, 1)]);
  return { world, nodes };
}

async function pgpool(): Promise<PgpoolTree> {
  const tree = await startPgpoolTree(stage.bundle.dir);
  trees.push(tree);
  return tree;
}

// Each spec has a world and pgpool trees of its own: they run side by side.
describe.concurrent('Function: pgpool-vip up/down run by pgpool (bundled agent, process tree named pgpool, moto)', () => {
  it('takes the VIP for a restarted pgpool the majority elects, and exits 1 for the isolated old leader re-acquiring it', async (test) => {
    // Prepare: pgpool-2 leads; its pgpool is killed (no down) and pgpool-1 is elected.
    const { world, nodes } = await twoNodeWorld(test);
    const [pgpool1, pgpool2] = nodes;
    // Both nodes' pgpools run from the start.
    const [crashed, isolated] = await Promise.all([pgpool(), pgpool()]);
    expect((await crashed.run('escalation', process.execPath, [stage.bundle.bundle, ...UP], pgpool2.env)).code).toBe(0);
    await crashed.kill();
    // This node's pgpool.conf puts a wrapper script in front of the agent (as the drill does).
    const wrapped = ['-c', '"$@"; exit $?', 'if-cmd-wrapper', process.execPath, stage.bundle.bundle, ...UP];
    expect((await isolated.run('escalation', '/bin/sh', wrapped, pgpool1.env)).code).toBe(0);

    // Act: pgpool-2's pgpool restarts and is elected; pgpool-1, isolated, re-runs if_up_cmd from
    // its watchdog when fenced, and resigns once it notices it lost quorum.
    const restarted = await pgpool();
    const elected = await restarted.run('escalation', process.execPath, [stage.bundle.bundle, ...UP], pgpool2.env);
    const reacquire = await isolated.run('reacquire', process.execPath, [stage.bundle.bundle, ...UP], pgpool1.env);
    const routeAfterReacquire = await stage.routeTarget(world);
    const resign = await isolated.run('escalation', process.execPath, [stage.bundle.bundle, ...DOWN], pgpool1.env);

    // Assess
    expect([elected.code, elected.stderr]).toEqual([0, '']);
    expect(reacquire.code).toBe(1);
    expect(reacquire.stderr).toMatch(
      new RegExp(`^pgpool-vip: controller stale request [0-9a-f-]{36}: ${pgpool1.instance.instanceId} lost the VIP to ${pgpool2.instance.instanceId} at .* re-acquiring it in the same leadership`),
    );
    expect(routeAfterReacquire).toBe(pgpool2.instance.eni);
    expect([resign.code, resign.stderr]).toEqual([0, '']);
    expect(await stage.routeTarget(world)).toBe(pgpool2.instance.eni);
    const vip = await new DynamoLedger(stage.clients.dynamodb, world.ledgerTable).readVip(world.config.clusters[0]?.name ?? '');
    const electedIncarnation = vip?.members?.[pgpool2.instance.instanceId]?.upIncarnation;
    expect(electedIncarnation?.watchdog).toBe(`${restarted.watchdogPid}@${electedIncarnation?.watchdog.split('@')[1]}`);
    expect(electedIncarnation?.escalation).toMatch(/^\d+@\d+$/);
    expect(vip?.members?.[pgpool1.instance.instanceId]?.upIncarnation?.watchdog).toMatch(new RegExp(`^${isolated.watchdogPid}@`));
  }, 120_000);

  it.skipIf(!FAKETIME)("moves the VIP to a node whose up comes after, by the ledger, a holder whose clock runs 9 s fast (faketime)", async (test) => {
    const { world, nodes } = await twoNodeWorld(test);
    const [fast, normal] = nodes;
    const skewed = await (await pgpool()).run('escalation', 'faketime', ['-f', '+9s', process.execPath, stage.bundle.bundle, ...UP], {
      ...fast.env,
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    expect([skewed.code, skewed.stderr]).toEqual([0, '']);

    const run = await runAgent(stage.bundle.bundle, UP, normal.env);

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(await stage.routeTarget(world)).toBe(normal.instance.eni);
    const vip = await new DynamoLedger(stage.clients.dynamodb, world.ledgerTable).readVip(world.config.clusters[0]?.name ?? '');
    const fastUp = Date.parse(vip?.members?.[fast.instance.instanceId]?.upIssuedAt ?? '');
    expect(fastUp).toBeGreaterThan(Date.parse(vip?.upIssuedAt ?? ''));
  }, 120_000);
});

if (!FAKETIME) {
  describe('Function: pgpool-vip with a skewed clock', () => {
    it.skip("needs Debian's faketime (apt-get install faketime): skipped", () => undefined);
  });
}
