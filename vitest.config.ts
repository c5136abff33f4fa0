import { configDefaults, defineConfig } from 'vitest/config';

// Tests run against real infrastructure (Docker, gRPC on 127.0.0.1:0,
// SQLite files, FerretDB), so they get generous timeouts; timing is never
// asserted here (benchmarks under bench/ do that).
export default defineConfig({
  test: {
    include: ['apps/*/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    // Building and running the images takes minutes and both cores: its own
    // run, `pnpm test:images` (tests/images/vitest.config.ts), after this one.
    exclude: [...configDefaults.exclude, 'tests/images/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // In CI a failed test gets one more try: these tests share a 2-core
    // machine and one Docker engine with each other. Vitest still reports
    // the retry, and a test that needs it is a bug to fix, not to ignore.
    retry: process.env.CI ? 1 : 0,
    reporters: ['default'],
  },
});
