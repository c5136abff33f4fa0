import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireS3Server, startS3Server, type RunningS3Server } from './s3-server.js';

const NOWHERE = '/nonexistent/cloudai/versitygw';

describe('requireS3Server without the binary', () => {
  it('fails under CI, naming what is missing and how to provide it', () => {
    const require = () => requireS3Server('the suite', { CI: 'true', CLOUDAI_VERSITYGW_BIN: NOWHERE });
    expect(require).toThrow(/^the suite cannot run under CI without an S3-compatible server/);
    expect(require).toThrow(`CLOUDAI_VERSITYGW_BIN=${NOWHERE} does not exist`);
    expect(require).toThrow(/CLOUDAI_VERSITYGW_BIN.*\.ci\/provision\.sh/);
  });

  it('skips elsewhere, with a warning that says so and how to run it', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(requireS3Server('the suite', { CLOUDAI_VERSITYGW_BIN: NOWHERE })).toBeUndefined();
      expect(warn).toHaveBeenCalledOnce();
      expect(String(warn.mock.calls[0]?.[0])).toContain('SKIPPED: the suite');
    } finally {
      warn.mockRestore();
    }
  });
});

const bin = requireS3Server('the S3 test server fixture');

describe.skipIf(!bin)('startS3Server', () => {
  let server: RunningS3Server;
  beforeAll(async () => {
    server = await startS3Server(bin!);
  });
  afterAll(() => server?.stop());

  it('serves on loopback and refuses unsigned requests', async () => {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.endpoint}/`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('AccessDenied');
  });

  it('has random root keys per server', async () => {
    const other = await startS3Server(bin!);
    try {
      expect(other.accessKeyId).not.toBe(server.accessKeyId);
      expect(other.secretAccessKey).not.toBe(server.secretAccessKey);
      expect(other.endpoint).not.toBe(server.endpoint);
    } finally {
      await other.stop();
    }
    await expect(fetch(other.endpoint)).rejects.toThrow();
  });
});
