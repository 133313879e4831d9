import { describe, expect, it } from 'vitest';
import type { WorldInstance } from '../../local/world.ts';
import { send } from '../kit/flow.ts';
import { MemoryAwsError } from '../kit/memory-aws.ts';
import { createMemoryHarness } from '../kit/memory-harness.ts';

// A command that fails on the node or never finishes: how the SSM adapter reads those answers is
// specified in test/contract/node-address.test.ts; here, what the switchover makes of them.
describe('Function: switchover handler when SSM misbehaves (in memory)', () => {
  it('fails the up at step ssm-add with the node script error, after the route was moved', async () => {
    const harness = createMemoryHarness();
    harness.aws.commandBehaviour = () => ({ status: 'Failed', detail: "pgpool-vip-address: no interface 'eth0' on this host" });
    const node1 = harness.world.instances[0] as WorldInstance;

    const { detail, result } = await send(harness, node1, 'up');

    const commandId = harness.aws.commands[0]?.commandId;
    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('ssm-add');
    expect(result.reason).toBe(
      `SSM command ${commandId} (add) on ${node1.instanceId} ended Failed: pgpool-vip-address: no interface 'eth0' on this host`,
    );
    expect(Object.values(await harness.routeTargets())).toEqual([node1.eni]);
    expect(await harness.request(detail.requestId)).toMatchObject({ status: 'failed', failedStep: 'ssm-add' });
  });

  it('fails with a bounded wait when the command never finishes', async () => {
    const harness = createMemoryHarness({ configure: () => ({ ssmWaitSeconds: 1 }) });
    harness.aws.commandBehaviour = () => ({ status: 'InProgress' });
    const node1 = harness.world.instances[0] as WorldInstance;

    const { result } = await send(harness, node1, 'down');

    const commandId = harness.aws.commands[0]?.commandId;
    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('ssm-remove');
    expect(result.reason).toBe(`SSM command ${commandId} (remove) on ${node1.instanceId} did not finish within 1 s (last status InProgress)`);
  });

  it('fails naming the SSM error when the command cannot be sent', async () => {
    const harness = createMemoryHarness();
    harness.aws.beforeCall = (call) => {
      if (call === 'ssm:send') throw new MemoryAwsError('InvalidInstanceId', 'Instances [[i-1]] not in a valid state for account');
    };
    const node1 = harness.world.instances[0] as WorldInstance;

    const { result } = await send(harness, node1, 'up');

    expect(result.outcome).toBe('failed');
    expect(result.reason).toBe(
      `SSM SendCommand (add) to ${node1.instanceId} failed: InvalidInstanceId: Instances [[i-1]] not in a valid state for account`,
    );
  });
});

describe('Function: switchover handler marks an up routed before SSM reports (in memory)', () => {
  /** The request records as they stand each time the handler waits for an SSM command. */
  const recordsDuringSsmWaits = (harness: ReturnType<typeof createMemoryHarness>): Array<Record<string, unknown>> => {
    const seen: Array<Record<string, unknown>> = [];
    const previous = harness.aws.beforeCall;
    harness.aws.beforeCall = async (call, input) => {
      await previous(call, input);
      if (call !== 'ssm:wait') return;
      // The route writes and the ledger run beside the wait: give them their turn first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const key of harness.aws.items.keys()) if (key.startsWith('request#')) seen.push(harness.aws.readItem(key) as Record<string, unknown>);
    };
    return seen;
  };

  it('marks the claim routed once every table points at the sender, while the add is still awaited; the outcome replaces the mark', async () => {
    const harness = createMemoryHarness();
    const seen = recordsDuringSsmWaits(harness);
    const node1 = harness.world.instances[0] as WorldInstance;

    const { detail, result } = await send(harness, node1, 'up');

    expect(result.outcome).toBe('applied');
    expect(seen[0]).toMatchObject({ requestId: detail.requestId, status: 'claimed', routedClaim: seen[0]?.claimToken });
    expect((await harness.request(detail.requestId))?.routedClaim).toBeUndefined();
  });

  it('leaves the claim unmarked when a route write fails', async () => {
    const harness = createMemoryHarness();
    const seen = recordsDuringSsmWaits(harness);
    const previous = harness.aws.beforeCall;
    harness.aws.beforeCall = async (call, input) => {
      if (call === 'routes:pointVipRoute') throw new MemoryAwsError('RequestLimitExceeded', 'Request limit exceeded.');
      await previous(call, input);
    };
    const node1 = harness.world.instances[0] as WorldInstance;

    const { detail, result } = await send(harness, node1, 'up');

    expect([result.outcome, result.failedStep]).toEqual(['failed', 'route']);
    expect(seen[0]).toMatchObject({ requestId: detail.requestId, status: 'claimed' });
    expect(seen[0]?.routedClaim).toBeUndefined();
  });
});
