import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/kit/moto-global.ts'],
    // Integration files share one moto_server (test/kit/moto-global.ts); AWS calls on loopback still take ~10 ms each.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // The SDK, Powertools and zod take seconds to import under load; each worker imports them once
    // for all its files, not once per file. No test file changes process-wide state it does not restore.
    isolate: false,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
