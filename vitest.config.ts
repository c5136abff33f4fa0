import { defineConfig } from 'vitest/config';

// Tests run against real infrastructure (Docker, gRPC on 127.0.0.1:0,
// SQLite files, FerretDB), so they get generous timeouts; timing is never
// asserted here (benchmarks under bench/ do that).
export default defineConfig({
  test: {
    include: ['apps/*/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
