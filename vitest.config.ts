import { defineConfig } from 'vitest/config';
import { WaitingSpreadSequencer } from './test/kit/sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/kit/moto-global.ts'],
    // Records what each file cost, so the next run can order the files by it (test/kit/sequencer.ts).
    setupFiles: ['test/kit/record-file-cost.ts'],
    sequence: { sequencer: WaitingSpreadSequencer },
    // Integration files share one moto_server (test/kit/moto-global.ts); AWS calls on loopback still take ~10 ms each.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A worker keeps its loaded modules from one file to the next: loading the SDK and the
    // handlers again for every file cost more CPU than most files' tests. Files keep apart by
    // the prefixes of their worlds; a file that mocks a client class restores it after itself.
    isolate: false,
    // Many files wait on deadlines, child processes and moto rather than on the CPU: on 2 cores,
    // five workers kept the cores busier than three (4 interleaved runs: 48.7 s with three, 43.6 s
    // with four) and than four (faster in 6 of 7 interleaved pairs, by 2 s on average). Six
    // cost more than they gained: each worker loads the SDK and the handlers once more.
    maxWorkers: 5,
    // Node 20.19+ parses a .js file of a package without a "type" field once more when it is
    // imported, to tell an ES module from CommonJS (detect-module): every file of the SDK's
    // CommonJS builds is one. They are CommonJS, as Node took them before: the workers' imports
    // took ~3.5 s less in all (14.5-15.1 s -> 10.8-11.4 s here).
    execArgv: ['--no-experimental-detect-module'],
    // Specs of a file that run side by side (describe.concurrent) mostly wait, but moto serves each
    // of their calls on a thread of its own: a run with ten at once and more files side by side got
    // an HTML 500 from inside moto. The fault matrix runs five cells at a time.
    maxConcurrency: 5,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_METRICS_DISABLED: 'true' },
    // Each worker transforms the project's TypeScript again in every run (seconds of CPU in all):
    // kept on disk in node_modules (gone with the next `npm ci`), keyed by each file's content.
    experimental: { fsModuleCache: true },
  },
});
