import { describe, expect, it, type TestContext } from 'vitest';
import { DynamoLedger } from '../../functions/adapters/ledger.ts';
import { runAgent, type AgentNode } from '../../local/agent-node.ts';
import { type LocalController } from '../../local/controller.ts';
import { type World } from '../../local/world.ts';
import { useAgentStage } from '../kit/agent-stage.ts';

// `pgpool-vip up --dry-run` as an operator runs it on a new node: the bundled agent, its IMDS,
// the local controller on moto. The host's loopback stands in for the node's interface.
const IFACE = 'lo';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const stage = useAgentStage('dr');

async function world(test: TestContext, options: { tagMembers?: boolean } = {}): Promise<{ world: World; nodes: AgentNode[]; controller: LocalController }> {
  const created = await stage.world(options);
  const controller = stage.controller(created, test);
  const nodes = await Promise.all([stage.node(created, 0), stage.node(created, 1)]);
  return { world: created, nodes, controller };
}

// Each spec has a world of its own: they run side by side.
describe.concurrent('Function: pgpool-vip up --dry-run (bundled agent, moto, local IMDS, local controller)', () => {
  it("prints the controller's plan, exits 0, and the route and the VIP record stay as they were", async (test) => {
    const { world: w, nodes } = await world(test);
    const [first, second] = nodes as [AgentNode, AgentNode];
    expect((await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--no-interface-check'], first.env)).code).toBe(0);
    const ledger = new DynamoLedger(stage.clients.dynamodb, w.ledgerTable);
    const vipBefore = await ledger.readVip(w.config.clusters[0]?.name ?? '');

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--dry-run'], second.env);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const table = w.routeTableIds[0] ?? '';
    expect(run.stdout).toMatch(
      new RegExp(
        [
          `^pgpool-vip: dry run of up 198\\.19\\.0\\.50 on lo \\(${second.instance.instanceId}, ${second.instance.eni}\\): the controller would answer applied, request (${UUID}); nothing was changed`,
          `pgpool-vip:   holder: ${first.instance.instanceId} -> ${second.instance.instanceId}`,
          `pgpool-vip:   route 198\\.19\\.0\\.50/32 in ${table}: replace \\(${first.instance.eni} -> ${second.instance.eni}\\)`,
          `pgpool-vip:   SSM: add 198\\.19\\.0\\.50 to lo on ${second.instance.instanceId} \\(not sent\\)`,
          `pgpool-vip:   SSM: remove 198\\.19\\.0\\.50 from lo on ${first.instance.instanceId} \\(not sent\\)\\n$`,
        ].join('\\n'),
      ),
    );
    expect(await stage.routeTarget(w)).toBe(first.instance.eni);
    expect(await ledger.readVip(w.config.clusters[0]?.name ?? '')).toEqual(vipBefore);
    const requestId = /request ([0-9a-f-]{36});/.exec(run.stdout)?.[1] ?? '';
    expect(await ledger.readRequest(requestId)).toMatchObject({ status: 'applied', dryRun: true, instanceId: second.instance.instanceId });
  });

  it('prints the plan as one JSON document with --json', async (test) => {
    const { world: w, nodes } = await world(test);
    const [first] = nodes as [AgentNode];

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--dry-run', '--json'], first.env);

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(JSON.parse(run.stdout)).toMatchObject({
      dryRun: true,
      action: 'up',
      vip: '198.19.0.50',
      iface: IFACE,
      instanceId: first.instance.instanceId,
      eni: first.instance.eni,
      outcome: 'applied',
      reason: null,
      holderBefore: null,
      holderAfter: first.instance.instanceId,
      routes: [{ routeTableId: w.routeTableIds[0], before: null, after: first.instance.eni, change: 'create' }],
      ssmCommands: [{ purpose: 'add', instanceIds: [first.instance.instanceId] }, { purpose: 'remove', instanceIds: [nodes[1]?.instance.instanceId] }],
    });
    expect(await stage.routeTarget(w)).toBeNull();
  });

  it('exits 1 with the reason when the real run would be refused (a node without the member tag)', async (test) => {
    const { world: w, nodes } = await world(test, { tagMembers: false });
    const [first] = nodes as [AgentNode];

    const run = await runAgent(stage.bundle.bundle, ['up', '198.19.0.50', IFACE, '--dry-run'], first.env);

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^pgpool-vip: dry run of up 198\\.19\\.0\\.50 on lo .*: the controller would answer rejected, request ${UUID}; nothing was changed\\n`));
    expect(run.stderr).toMatch(
      new RegExp(`^pgpool-vip: dry run: controller rejected request ${UUID}: instance ${first.instance.instanceId} is not a member of cluster "${w.config.clusters[0]?.name}"`),
    );
    expect(await stage.routeTarget(w)).toBeNull();
  });
});
