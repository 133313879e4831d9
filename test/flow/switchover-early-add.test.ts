import { describe, expect, it } from 'vitest';
import type { WorldInstance } from '../../local/world.ts';
import { send } from '../kit/flow.ts';
import { MemoryAwsError } from '../kit/memory-aws.ts';
import { createMemoryHarness, type MemoryHarness } from '../kit/memory-harness.ts';

const instanceOf = (harness: MemoryHarness, node: WorldInstance) => {
  const instance = harness.aws.instances.get(node.instanceId);
  if (instance === undefined) throw new Error('no such instance');
  return instance;
};

/**
 * In SSM mode an `up` ends when SSM has put the VIP on the sender: the add goes as soon as the
 * claim is won, beside the source/dest check write a node's first `up` makes, never before the
 * claim. The routes still wait for the check.
 */
describe('Function: switchover handler sends the SSM add once the claim is won (in memory)', () => {
  it('sends the add while the source/dest check is still being turned off, and writes the routes after it', async () => {
    const harness = createMemoryHarness({ routeTableCount: 2 });
    const node1 = harness.world.instances[0] as WorldInstance;
    // The check's write is held until the add is sent, or for 2 s, whichever comes first.
    let releaseCheck = (): void => undefined;
    const checkHeld = new Promise<void>((resolve) => {
      releaseCheck = resolve;
      setTimeout(resolve, 2000).unref();
    });
    harness.aws.beforeCall = async (call) => {
      if (call === 'ssm:send') releaseCheck();
      if (call === 'members:disableSourceDestCheck') await checkHeld;
    };

    const { result } = await send(harness, node1, 'up');

    const { calls } = harness.aws;
    expect(result.outcome).toBe('applied');
    expect(result.sourceDestCheckDisabled).toBe(true);
    expect(calls.indexOf('ledger:claim')).toBeLessThan(calls.indexOf('ssm:send'));
    expect(calls.indexOf('members:disableSourceDestCheck')).toBeLessThan(calls.indexOf('ssm:send'));
    // Sent before the held check was let go: the add did not wait for it; the routes did.
    expect(calls.indexOf('ssm:send')).toBeLessThan(calls.indexOf('routes:pointVipRoute'));
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni, node1.eni]);
    expect(instanceOf(harness, node1).vipOnInterface).toBe(true);
  });

  it('sends no add when the claim is not won: a refused sender gets nothing on its interface', async () => {
    const harness = createMemoryHarness();
    const node1 = harness.world.instances[0] as WorldInstance;
    instanceOf(harness, node1).state = 'stopped';

    const { result } = await send(harness, node1, 'up');

    expect(result.outcome).toBe('rejected');
    expect(harness.aws.calls).not.toContain('ssm:send');
    expect(instanceOf(harness, node1).vipOnInterface).toBe(false);
  });

  it('takes the add back when the source/dest check fails beside the claim, and the resend converges', async () => {
    const harness = createMemoryHarness();
    const node1 = harness.world.instances[0] as WorldInstance;
    let failures = 1;
    harness.aws.beforeCall = (call) => {
      if (call === 'members:disableSourceDestCheck' && failures > 0) {
        failures -= 1;
        throw new MemoryAwsError('UnauthorizedOperation', 'You are not authorized to perform this operation.');
      }
    };

    const { detail, event, result } = await send(harness, node1, 'up');

    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('source-dest-check');
    expect(result.ssmCommands.map((command) => [command.purpose, command.instanceIds, command.status])).toEqual([
      ['add', [node1.instanceId], 'Success'],
      ['remove', [node1.instanceId], 'Success'],
    ]);
    expect(instanceOf(harness, node1).vipOnInterface).toBe(false);
    expect(Object.values(await harness.routeTargets())).toEqual([null]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'failed', failedStep: 'source-dest-check' });

    const resent = await harness.invoke(event);

    expect(resent.outcome).toBe('applied');
    expect(instanceOf(harness, node1).vipOnInterface).toBe(true);
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni]);
  });

  it('sends no add for a dry run or for an agent that added the VIP itself', async () => {
    const harness = createMemoryHarness();
    const [node1, node2] = harness.world.instances as [WorldInstance, WorldInstance];

    const dry = await send(harness, node1, 'up', { detail: { dryRun: true } });
    const local = await send(harness, node2, 'up', { detail: { localAddress: true } });

    expect(dry.result.outcome).toBe('applied');
    expect(dry.result.dryRun).toBe(true);
    expect(local.result.outcome).toBe('applied');
    expect(harness.aws.commands.filter((sent) => sent.command.action === 'add')).toEqual([]);
  });
});
