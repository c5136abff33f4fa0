import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { locateChromium, requireChromium } from './chromium.js';
import { tempDir, type TempDir } from './temp.js';

describe('requireChromium without a binary', () => {
  const nowhere = { CLOUDAI_CHROMIUM: '/nonexistent/cloudai/chromium' };

  it('fails under CI, naming what is missing and how to provide it', () => {
    expect(() => requireChromium('the suite', { ...nowhere, CI: 'true' })).toThrow(
      /^the suite cannot run under CI without Chromium \(CLOUDAI_CHROMIUM=\/nonexistent\/cloudai\/chromium is not an executable\): install Debian's chromium package/,
    );
  });

  it('skips elsewhere, with a warning that says so and how to run it', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(requireChromium('the suite', nowhere)).toBeUndefined();
      expect(warn).toHaveBeenCalledOnce();
      const message = String(warn.mock.calls[0]?.[0]);
      expect(message).toContain('SKIPPED: the suite');
      expect(message).toContain('.ci/provision.sh');
    } finally {
      warn.mockRestore();
    }
  });
});

describe('locateChromium', () => {
  let bin: TempDir;
  beforeAll(async () => {
    bin = await tempDir('cloudai-bin-');
    await writeFile(join(bin.path, 'chromium'), '#!/bin/sh\n');
    await chmod(join(bin.path, 'chromium'), 0o755);
  });
  afterAll(() => bin.remove());

  it('takes CLOUDAI_CHROMIUM when it names an executable', () => {
    const path = join(bin.path, 'chromium');
    expect(locateChromium({ CLOUDAI_CHROMIUM: path })).toEqual({ path });
  });
});
