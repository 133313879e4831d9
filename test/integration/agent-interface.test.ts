import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { startLocalController } from '../../local/controller.ts';
import { runAgent } from '../../local/agent-node.ts';
import { isRoot, startNetnsNode, type NetnsNode } from '../kit/netns-node.ts';

// A namespace is the pgpool node: its `eth0` carries the instance's MAC (so the agent finds the
// ENI in IMDS the way it does on EC2) and reaches moto and IMDS over a veth to the host.
const VIP = '198.19.0.50';
const SCRIPT = new URL('../../infra/vip-address.sh', import.meta.url).pathname;

describe.skipIf(!isRoot)('Function: pgpool-vip on a node interface (network namespace; skipped unless root)', () => {
  let stage: NetnsNode;
  /** Stands in for SSM Run Command, which moto does not execute: runs the real script in the namespace. */
  let emulateSsm = true;

  beforeAll(async () => {
    stage = await startNetnsNode({ tag: 't', config: {} });
    const { moto, world, node } = stage;
    const instance = node.instance;
    const controller = startLocalController({
      endpoint: moto.endpoint,
      world,
      onResult: (result) => {
        if (emulateSsm) applySsmCommands(result, instance.instanceId);
      },
    });
    stage.stops.push(controller);
  });

  afterAll(async () => {
    await stage?.stop();
  });

  function applySsmCommands(result: SwitchoverResult, instanceId: string): void {
    for (const command of result.ssmCommands) {
      if (!command.instanceIds.includes(instanceId)) continue;
      execFileSync('ip', ['netns', 'exec', stage.netns, 'sh', SCRIPT, command.purpose, VIP, 'eth0'], { stdio: 'ignore' });
    }
  }

  it('exits 0 on up only once the VIP is on eth0, found through the interface MAC and IMDS', async () => {
    // Prepare
    emulateSsm = true;
    // Act
    const run = await runAgent(stage.bundle.bundle, ['up', VIP, 'eth0'], stage.node.env, { netns: stage.netns });
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^pgpool-vip: up ${VIP.replaceAll('.', '\\.')} on eth0 \\(${stage.node.instance.instanceId}, ${stage.node.instance.eni}\\): (applied|noop), request \\S+\\n$`),
    );
    expect(stage.vipOnNode(VIP)).toBe(true);
  });

  it('reports the VIP as present on eth0 in status', async () => {
    const run = await runAgent(stage.bundle.bundle, ['status'], stage.node.env, { netns: stage.netns });

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout.split('\n')).toContain(`interface eth0: ${VIP} present`);
  });

  it('exits 0 on down once the VIP has left eth0', async () => {
    emulateSsm = true;

    const run = await runAgent(stage.bundle.bundle, ['down', VIP, 'eth0'], stage.node.env, { netns: stage.netns });

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(stage.vipOnNode(VIP)).toBe(false);
  });

  it('exits 3 at the deadline when the controller answers but the VIP never reaches eth0', async () => {
    emulateSsm = false;
    // Waited out in full: long enough for the controller's answer to arrive first on a loaded machine.
    const shortDeadline = join(stage.bundle.dir, 'short-deadline.json');
    await writeFile(shortDeadline, JSON.stringify({ ...JSON.parse(await readFile(stage.node.configPath, 'utf8')), deadlineSeconds: 10 }));

    const run = await runAgent(stage.bundle.bundle, ['up', VIP, 'eth0', '--config', shortDeadline], stage.node.env, { netns: stage.netns });

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^pgpool-vip: timed out after 10 s waiting for 198\.19\.0\.50 to appear on eth0; the controller answered request \S+ \(routes done\); likely cause: the SSM agent on this node is not running or not registered \(pgpool-vip doctor checks it\), or the controller's clusters\[\]\.interface is not eth0\n$/,
    );
    expect(stage.vipOnNode(VIP)).toBe(false);
  });
});
