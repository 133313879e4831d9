import { describe, expect, it } from 'vitest';
import type { SwitchoverResult } from '../../functions/switchover/switchover-flow.ts';
import { createLocalController } from '../../local/controller.ts';
import { startAwsFrontDoor } from '../../local/front-door/front-door.ts';
import type { HookKind, LatencyModel } from '../../local/front-door/latency-profile.ts';
import { envelope, signedDetail } from '../../local/requests.ts';
import type { WorldInstance } from '../../local/world.ts';
import { createMemoryWorld } from '../kit/memory-harness.ts';
import { sharedMoto } from '../kit/moto.ts';

/** A latency model that adds nothing and counts the cold inits the controller waited out. */
function countingModel(): LatencyModel & { drawn: HookKind[] } {
  const drawn: HookKind[] = [];
  return { name: 'counting', drawn, callDelayMs: () => 0, hookDelayMs: (kind) => (drawn.push(kind), 0) };
}

/** An event the handler refuses at once: each delivery is one invocation. */
const notARequest = (id: string) => ({ id, source: 'someone.else', 'detail-type': 'Other', detail: {} });

async function invocations(provisionedConcurrency: number | undefined, batches: number[]): Promise<{ coldInits: number; results: SwitchoverResult[] }> {
  const latency = countingModel();
  const results: SwitchoverResult[] = [];
  const controller = createLocalController({
    endpoint: sharedMoto().endpoint,
    world: createMemoryWorld(),
    delivery: 'push',
    latency,
    ...(provisionedConcurrency === undefined ? {} : { provisionedConcurrency }),
    onResult: (result) => results.push(result),
  });
  let sent = 0;
  for (const size of batches) {
    // A batch arrives together; the next one once it has been handled.
    for (let index = 0; index < size; index += 1) controller.deliver(notARequest(`event-${(sent += 1)}`), Date.now());
    await controller.stop();
  }
  return { coldInits: latency.drawn.filter((kind) => kind === 'lambda-cold-init').length, results };
}

describe("Local controller: the stage's provisioned concurrency under a latency model", () => {
  it('draws a cold init for every invocation without provisioned concurrency, as after a quiet spell', async () => {
    const { coldInits, results } = await invocations(undefined, [1, 2]);

    expect(results).toHaveLength(3);
    expect(coldInits).toBe(3);
  });

  it('draws none while a provisioned environment is free, and one for each invocation beyond them', async () => {
    const { coldInits, results } = await invocations(1, [1, 3, 1]);

    expect(results).toHaveLength(5);
    // The lone ones find the environment free; two of the three that arrive together start cold.
    expect(coldInits).toBe(2);
  });
});

describe('Local controller: a cold invocation is a new environment, its per-container caches empty', () => {
  /**
   * Signed requests of a world moto does not hold: each is refused once STS answers, and the
   * reads beside the proof still go out, among them the VPCs' CIDRs, which a handler reads once.
   */
  async function vpcReads(options: { freshWhenCold: boolean; provisionedConcurrency: number }, invocations: number): Promise<number> {
    const door = await startAwsFrontDoor({ host: '127.0.0.1', motoEndpoint: sharedMoto().endpoint });
    const world = createMemoryWorld();
    const controller = createLocalController({ endpoint: door.endpoint, world, delivery: 'push', latency: countingModel(), ...options });
    try {
      for (let index = 0; index < invocations; index += 1) {
        const detail = await signedDetail(world, world.instances[0] as WorldInstance, { action: 'up', stsEndpoint: door.endpoint });
        controller.deliver(envelope(detail, world), Date.now());
        await controller.stop();
      }
      return door.calls.filter((call) => call.service === 'ec2' && call.operation === 'DescribeVpcs').length;
    } finally {
      await door.stop();
    }
  }

  it('reads the VPCs once per cold invocation when each is a new environment, once in all when one handler serves them', async () => {
    expect(await vpcReads({ freshWhenCold: true, provisionedConcurrency: 0 }, 2)).toBe(2);
    expect(await vpcReads({ freshWhenCold: false, provisionedConcurrency: 0 }, 2)).toBe(1);
  });

  it('keeps a provisioned environment\'s caches from one invocation to the next', async () => {
    expect(await vpcReads({ freshWhenCold: true, provisionedConcurrency: 1 }, 2)).toBe(1);
  });
});
