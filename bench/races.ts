// Race property at scale: random interleavings of up, down, duplicate and delayed deliveries
// from three nodes, with concurrent invocations and injected faults (local/harness/races.ts),
// against the real switchover handler and SDK clients on in-memory AWS. Prints the number of
// interleavings, the seed, and any counterexample. RACES_RUNS (default 1000), RACES_SEED.
import fc from 'fast-check';
import { seedFrom } from '../local/front-door/random.ts';
import { runScenario, scenarioArbitrary } from '../local/harness/races.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const runs = Number(process.env.RACES_RUNS ?? 1000);
const seed = seedFrom(process.env.RACES_SEED);

let interleavings = 0;
let requests = 0;
let deliveries = 0;
let faults = 0;
const outcomes: Record<string, number> = {};
const started = performance.now();
const report = await fc.check(
  fc.asyncProperty(scenarioArbitrary({ maxTerms: 6 }), async (scenario) => {
    const outcome = await runScenario(scenario);
    interleavings += 1;
    requests += outcome.requests;
    deliveries += outcome.deliveries;
    faults += outcome.faultsInjected;
    for (const [kind, count] of Object.entries(outcome.outcomes)) outcomes[kind] = (outcomes[kind] ?? 0) + count;
    if (outcome.broken.length > 0) console.log(`broken: ${outcome.broken.join('; ')}`);
    return outcome.broken.length === 0;
  }),
  { numRuns: runs, seed, endOnFailure: true },
);
const seconds = (performance.now() - started) / 1000;
console.log(`races: ${interleavings} interleavings run (${runs} asked), seed ${seed} (RACES_SEED=${seed} repeats the scenarios)`);
console.log(`  ${requests} requests, ${deliveries} deliveries (duplicates and agent resends included), ${faults} faults injected`);
console.log(`  outcomes: ${Object.entries(outcomes).map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
console.log(`  ${seconds.toFixed(1)} s, ${((seconds * 1000) / Math.max(1, interleavings)).toFixed(0)} ms per interleaving`);
if (report.failed) {
  console.log(`  FAILED after ${report.numRuns} runs; counterexample: ${JSON.stringify(report.counterexample)}`);
  process.exitCode = 1;
} else {
  console.log('  every invariant held: route on the last leader, every table routed, one outcome per request');
}
