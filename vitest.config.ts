import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/temporal-server.ts', 'test/setup/gcs-emulator.ts', 'test/setup/s3-server.ts'],
    // Real servers, real workers, real processes: generous but bounded.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Two cores: files run in parallel forks, at most two at a time.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
