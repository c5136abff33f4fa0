import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createFakeMaster, type FakeMaster } from './fake-master.js';

export interface FakeMasterFixture {
  master: FakeMaster;
  /** the environment that points the CLI at `master`; filled in once it listens */
  env: Record<string, string>;
}

/**
 * Registers the hooks of a test file that drives the CLI against a fake
 * master: it listens from the first test to the last, and each test starts
 * with no handlers and no recorded calls.
 */
export function useFakeMaster(): FakeMasterFixture {
  const master = createFakeMaster();
  const env: Record<string, string> = {};
  beforeAll(async () => {
    await master.listen();
    env.CLOUDAI_MASTER = master.address;
  });
  afterAll(() => master.close());
  beforeEach(() => master.setHandlers({}));
  return { master, env };
}
