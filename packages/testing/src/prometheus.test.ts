import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { locatePrometheus, requirePrometheus } from './prometheus.js';
import { tempDir, type TempDir } from './temp.js';

describe('requirePrometheus without a binary', () => {
  const nowhere = { PATH: '/nonexistent/cloudai/bin' };

  it('fails under CI, naming what is missing and how to provide it', () => {
    expect(() => requirePrometheus('the suite', { ...nowhere, CI: 'true' })).toThrow(
      /^the suite cannot run under CI without Prometheus \(PROMETHEUS_BIN is unset and there is no prometheus on PATH\): install Debian's prometheus package/,
    );
  });

  it('skips elsewhere, with a warning that says so and how to run it', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(requirePrometheus('the suite', nowhere)).toBeUndefined();
      expect(warn).toHaveBeenCalledOnce();
      const message = String(warn.mock.calls[0]?.[0]);
      expect(message).toContain('SKIPPED: the suite');
      expect(message).toContain('PROMETHEUS_BIN');
      expect(message).toContain('.ci/provision.sh');
    } finally {
      warn.mockRestore();
    }
  });
});

describe('locatePrometheus', () => {
  let bin: TempDir;
  beforeAll(async () => {
    bin = await tempDir('cloudai-bin-');
    await writeFile(join(bin.path, 'prometheus'), '#!/bin/sh\n');
    await chmod(join(bin.path, 'prometheus'), 0o755);
  });
  afterAll(() => bin.remove());

  it('finds prometheus on PATH, and takes PROMETHEUS_BIN over it', () => {
    expect(locatePrometheus({ PATH: `/nonexistent:${bin.path}` })).toEqual({ path: join(bin.path, 'prometheus') });
    expect(locatePrometheus({ PATH: bin.path, PROMETHEUS_BIN: '/nonexistent/prometheus' })).toEqual({
      missing: 'PROMETHEUS_BIN=/nonexistent/prometheus is not an executable',
    });
  });
});
