import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedFrom } from '../../local/front-door/random.ts';
import { runScenario, scenarioArbitrary } from '../../local/harness/races.ts';

// In-memory AWS (local/harness/in-memory-aws.ts) under the real handler and SDK clients; moto
// would take about a second per interleaving. bench/races.ts runs 1,000 and more.
const RUNS = Number(process.env.RACES_RUNS ?? 40);
const seed = seedFrom(process.env.RACES_SEED);

describe('Races: random interleavings of up, down, duplicate and delayed deliveries from three nodes', () => {
  it(`keeps the route on the rule's leader, every table routed, one outcome per request (${RUNS} runs, seed ${seed})`, async () => {
    console.log(`races: ${RUNS} interleavings, seed ${seed} (RACES_SEED=${seed} repeats them)`);
    let interleavings = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary({ maxTerms: 5 }), async (scenario) => {
        interleavings += 1;
        const outcome = await runScenario(scenario);
        expect(outcome.broken).toEqual([]);
      }),
      { numRuns: RUNS, seed },
    );
    expect(interleavings).toBeGreaterThanOrEqual(RUNS);
  }, 300_000);

  it('finds a broken invariant when the controller loses a route write (the property can fail)', async () => {
    // A scenario whose only up has a route table faulted on every attempt: the request fails
    // and the agent gives up, so the rule's holder (node 0) does not hold the VIP.
    const outcome = await runScenario({
      terms: [{ leader: 0, previous: 'down', restarted: false }],
      duplicates: [[]],
      firstDelays: [0],
      faults: [],
      schedule: 1,
      breakRouteWrites: true,
    });

    expect(outcome.broken.join('\n')).toMatch(/route tables without the VIP route/);
  });
});
