import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { MEMBER_TAG_KEY } from '../../lib/cluster-config.ts';
import { runAgent } from '../../local/agent-node.ts';
import { ip, isRoot, startNetnsNode, type NetnsNode } from '../kit/netns-node.ts';

// The local fast path on a real interface: a namespace is the pgpool node, its `eth0` carries the
// instance's MAC, and the agent runs as root in it (so it holds CAP_NET_ADMIN, as pgpool does with
// the systemd drop-in). Nothing stands in for SSM here: a VIP on eth0 can only be the agent's.
const VIP = '198.19.0.50';

/** A node with localAddress on, in a world of its own, and the results of its world's controller. */
function useLocalAddressNode(tag: string, deadlineSeconds: number): { stage: () => NetnsNode; results: SwitchoverResult[] } {
  let stage: NetnsNode | undefined;
  const results: SwitchoverResult[] = [];
  beforeAll(async () => {
    stage = await startNetnsNode({ tag, config: { localAddress: true, deadlineSeconds } });
    stage.controller({ onResult: (result) => results.push(result) });
  });
  afterAll(async () => {
    await stage?.stop();
  });
  return {
    stage: () => {
      if (stage === undefined) throw new Error('the node is used before its beforeAll ran');
      return stage;
    },
    results,
  };
}

/**
 * The controller's result for the request the agent printed (or named in its refusal). The
 * agent may exit on the ledger's outcome a moment before the local controller hands it over.
 */
async function resultOf(results: SwitchoverResult[], output: string): Promise<SwitchoverResult | undefined> {
  const requestId = /request ([0-9a-f-]{36})/.exec(output)?.[1];
  for (let tries = 0; tries < 50; tries += 1) {
    const found = results.find((result) => result.requestId === requestId);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

// Two nodes, each in a world of its own, so the one without CAP_NET_ADMIN waits out its deadline
// beside the other's specs (which run in order: they change its member tags and its eth0).
describe.skipIf(!isRoot)('Function: pgpool-vip up with localAddress on a node interface (network namespace; skipped unless root)', () => {
  describe.concurrent('with CAP_NET_ADMIN', () => {
    const { stage, results } = useLocalAddressNode('l', 20);

    beforeEach(() => {
      if (stage().vipOnNode(VIP)) ip('-n', stage().netns, 'addr', 'del', `${VIP}/32`, 'dev', 'eth0');
      results.length = 0;
    });

    /** Tags the node into another cluster (the controller then rejects it), or back into its own. */
    async function memberTags(action: 'remove' | 'restore'): Promise<void> {
      const instance = stage().node.instance;
      const value = action === 'remove' ? 'another-cluster' : (stage().world.config.clusters[0]?.name ?? '');
      await stage().clients.ec2.send(new CreateTagsCommand({ Resources: [instance.instanceId, instance.eni], Tags: [{ Key: MEMBER_TAG_KEY, Value: value }] }));
    }

    it.sequential('puts the VIP on eth0 itself and exits 0, and the controller sends the sender no SSM add', async () => {
      // Act
      const run = await runAgent(stage().bundle.bundle, ['up', VIP, 'eth0'], stage().node.env, { netns: stage().netns });
      // Assess
      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(stage().vipOnNode(VIP)).toBe(true);
      const result = await resultOf(results, run.stdout);
      expect(result?.outcome).toMatch(/^(applied|noop)$/);
      expect(result?.ssmCommands.filter((command) => command.instanceIds.includes(stage().node.instance.instanceId))).toEqual([]);
      expect(result?.ssmCommands).toEqual([expect.objectContaining({ purpose: 'remove', instanceIds: [stage().world.instances[1]?.instanceId] })]);
    });

    it.sequential('removes the VIP it added when the controller rejects the request', async () => {
      await memberTags('remove');
      try {
        const run = await runAgent(stage().bundle.bundle, ['up', VIP, 'eth0'], stage().node.env, { netns: stage().netns });

        expect(run.code).toBe(1);
        const lines = run.stderr.trim().split('\n');
        expect(lines).toEqual([
          `pgpool-vip: removed ${VIP} from eth0, which this agent had added`,
          expect.stringMatching(/^pgpool-vip: controller rejected request \S+: /),
        ]);
        expect(await resultOf(results, run.stderr)).toMatchObject({ outcome: 'rejected', failedStep: 'validate' });
        expect(stage().vipOnNode(VIP)).toBe(false);
      } finally {
        await memberTags('restore');
      }
    });

    it.sequential('leaves a VIP that was on eth0 before it ran when the controller rejects the request', async () => {
      ip('-n', stage().netns, 'addr', 'add', `${VIP}/32`, 'dev', 'eth0');
      await memberTags('remove');
      try {
        const run = await runAgent(stage().bundle.bundle, ['up', VIP, 'eth0'], stage().node.env, { netns: stage().netns });

        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/^pgpool-vip: controller rejected request \S+: [^\n]*\n$/);
        expect(stage().vipOnNode(VIP)).toBe(true);
      } finally {
        await memberTags('restore');
      }
    });
  });

  describe.concurrent('without CAP_NET_ADMIN', () => {
    // Waited out in full: long enough for the request to reach the controller first.
    const { stage, results } = useLocalAddressNode('m', 4);
    /** Runs node without CAP_NET_ADMIN (dropped from its bounding set), as pgpool without the drop-in. */
    let withoutNetAdmin: string;

    beforeAll(async () => {
      withoutNetAdmin = join(stage().bundle.dir, 'node-without-net-admin');
      await writeFile(withoutNetAdmin, `#!/bin/sh\nexec setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- ${process.execPath} "$@"\n`);
      await chmod(withoutNetAdmin, 0o755);
    });

    it('says so and leaves the VIP to SSM when it lacks CAP_NET_ADMIN', async () => {
      const run = await runAgent(stage().bundle.bundle, ['up', VIP, 'eth0'], stage().node.env, { netns: stage().netns, node: withoutNetAdmin });

      // Nothing plays SSM here, so the VIP never arrives: what matters is who was asked to add it.
      expect(run.code).toBe(3);
      expect(run.stderr.split('\n')[0]).toBe(
        `pgpool-vip: localAddress is on but this process lacks CAP_NET_ADMIN (CapEff in /proc/self/status): SSM adds ${VIP} instead`,
      );
      expect(stage().vipOnNode(VIP)).toBe(false);
      expect((await resultOf(results, run.stderr))?.ssmCommands).toContainEqual(expect.objectContaining({ purpose: 'add', instanceIds: [stage().node.instance.instanceId] }));
    });
  });
});
