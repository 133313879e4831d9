import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { runAgent } from '../../local/agent-node.ts';
import { isRoot, startNetnsNode, type NetnsNode } from '../kit/netns-node.ts';

// A namespace is the pgpool node: its `eth0` carries the instance's MAC (so the agent finds the
// ENI in IMDS the way it does on EC2) and reaches moto and IMDS over a veth to the host.
const VIP = '198.19.0.50';
const SCRIPT = new URL('../../infra/vip-address.sh', import.meta.url).pathname;

/** Stands in for SSM Run Command, which moto does not execute: runs the real script in the namespace. */
function applySsmCommands(stage: NetnsNode, result: SwitchoverResult): void {
  for (const command of result.ssmCommands) {
    if (!command.instanceIds.includes(stage.node.instance.instanceId)) continue;
    execFileSync('ip', ['netns', 'exec', stage.netns, 'sh', SCRIPT, command.purpose, VIP, 'eth0'], { stdio: 'ignore' });
  }
}

// Two nodes, each in a world of its own, so the deadline one waits out its deadline beside the
// other's up, status and down (which run in order, on one node).
describe.skipIf(!isRoot)('Function: pgpool-vip on a node interface (network namespace; skipped unless root)', () => {
  describe.concurrent('where SSM Run Command puts the VIP on eth0 and takes it off', () => {
    let stage: NetnsNode;

    beforeAll(async () => {
      stage = await startNetnsNode({ tag: 't', config: {} });
      stage.controller({ onResult: (result) => applySsmCommands(stage, result) });
    });

    afterAll(async () => {
      await stage?.stop();
    });

    it.sequential('exits 0 on up only once the VIP is on eth0, found through the interface MAC and IMDS', async () => {
      // Act
      const run = await runAgent(stage.bundle.bundle, ['up', VIP, 'eth0'], stage.node.env, { netns: stage.netns });
      // Assess
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      // It ends on the controller's answer, or on the routed mark as soon as the VIP is there (the
      // stand-in may add it before the answer is recorded).
      const vip = VIP.replaceAll('.', '\\.');
      expect(run.stdout).toMatch(
        new RegExp(
          `^pgpool-vip: up ${vip} on eth0 \\(${stage.node.instance.instanceId}, ${stage.node.instance.eni}\\): ((applied|noop), request \\S+|routed, request \\S+; every route table points here and ${vip} is on eth0 \\(the controller records the outcome\\))\\n$`,
        ),
      );
      expect(stage.vipOnNode(VIP)).toBe(true);
    });

    it.sequential('reports the VIP as present on eth0 in status', async () => {
      const run = await runAgent(stage.bundle.bundle, ['status'], stage.node.env, { netns: stage.netns });

      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(run.stdout.split('\n')).toContain(`interface eth0: ${VIP} present`);
    });

    it.sequential('exits 0 on down once the VIP has left eth0', async () => {
      const run = await runAgent(stage.bundle.bundle, ['down', VIP, 'eth0'], stage.node.env, { netns: stage.netns });

      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(stage.vipOnNode(VIP)).toBe(false);
    });
  });

  describe.concurrent('where nothing plays SSM', () => {
    let stage: NetnsNode;

    beforeAll(async () => {
      stage = await startNetnsNode({ tag: 'u', config: {} });
      stage.controller();
    });

    afterAll(async () => {
      await stage?.stop();
    });

    it('exits 3 at the deadline when the controller answers but the VIP never reaches eth0', async () => {
      // Waited out in full: long enough for the controller's answer to arrive first on a loaded machine.
      const shortDeadline = join(stage.bundle.dir, 'short-deadline.json');
      await writeFile(shortDeadline, JSON.stringify({ ...JSON.parse(await readFile(stage.node.configPath, 'utf8')), deadlineSeconds: 6 }));

      const run = await runAgent(stage.bundle.bundle, ['up', VIP, 'eth0', '--config', shortDeadline], stage.node.env, { netns: stage.netns });

      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(
        /^pgpool-vip: timed out after 6 s waiting for 198\.19\.0\.50 to appear on eth0; the controller answered request \S+ \(routes done\); likely cause: the SSM agent on this node is not running or not registered \(pgpool-vip doctor checks it\), or the controller's clusters\[\]\.interface is not eth0\n$/,
      );
      expect(stage.vipOnNode(VIP)).toBe(false);
    });
  });
});
