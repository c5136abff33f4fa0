import { defineConfig } from 'vitest/config';

// `pnpm test:images`: builds every image and runs the cluster from them
// (docker/). Kept out of `pnpm test`, whose tests would share the two cores
// and the one Docker engine with image builds; CI runs it after them.
export default defineConfig({
  test: {
    include: ['tests/images/**/*.test.ts'],
    testTimeout: 5 * 60_000,
    hookTimeout: 30 * 60_000,
    // One build, one cluster: a retry would only rerun a test against the same ones.
    retry: 0,
    reporters: ['default'],
  },
});
