import { createHarness, type Harness } from '../../local/harness/controller-harness.ts';
import { resetWorld } from '../../local/harness/fault-matrix.ts';
import type { World } from '../../local/world.ts';

type HarnessOptions = NonNullable<Parameters<typeof createHarness>[1]>;

/**
 * One moto world for the specs of a file that run one after the other and need the same kind of
 * world: the first harness creates it, every later one gets it back reset as the fault matrix's
 * cells get theirs (local/harness/fault-matrix.ts resetWorld: no VIP route, an empty ledger, the
 * source/dest checks on; test/integration/fault-matrix-world-reuse.test.ts). What a spec changes
 * beyond that (tags, say) it puts back itself. A world costs moto a fraction of a second of CPU,
 * and each one left in the run's moto makes its describes longer.
 */
export function reusedWorld(endpoint: () => string): (options?: Omit<HarnessOptions, 'world'>) => Promise<Harness> {
  let world: World | undefined;
  return async (options = {}) => {
    if (world !== undefined) {
      await resetWorld(endpoint(), world);
      return await createHarness(endpoint(), { ...options, world });
    }
    const harness = await createHarness(endpoint(), options);
    world = harness.world;
    return harness;
  };
}
