import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { locateFerretDb, startMongoWireServer } from './ferretdb.js';
import { runningInCi } from './required-tool.js';
import { tempDir, type TempDir } from './temp.js';

const NOWHERE = '/nonexistent/cloudai/ferretdb';

describe('startMongoWireServer without a server', () => {
  it('fails under CI, naming what is missing and how to provide a server', async () => {
    const start = startMongoWireServer('the suite', { CI: 'true', CLOUDAI_FERRETDB_BIN: NOWHERE });
    // Were a server started after all, it must not outlive the test.
    await start.then((server) => server?.stop(), () => {});
    await expect(start).rejects.toThrow(/^the suite cannot run under CI/);
    await expect(start).rejects.toThrow(`CLOUDAI_FERRETDB_BIN=${NOWHERE} does not exist`);
    await expect(start).rejects.toThrow(/MONGODB_URI.*CLOUDAI_FERRETDB_BIN.*\.ci\/provision\.sh/);
  });

  it('skips elsewhere, with a warning that says so and how to run it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const server = await startMongoWireServer('the suite', { CLOUDAI_FERRETDB_BIN: NOWHERE });
      await server?.stop();
      expect(server).toBeUndefined();
      expect(warn).toHaveBeenCalledOnce();
      const message = String(warn.mock.calls[0]?.[0]);
      expect(message).toContain('SKIPPED: the suite');
      expect(message).toMatch(/MONGODB_URI.*CLOUDAI_FERRETDB_BIN.*\.ci\/provision\.sh/);
    } finally {
      warn.mockRestore();
    }
  });

  it('uses MONGODB_URI as given, under CI too, without looking for FerretDB', async () => {
    const uri = 'mongodb://127.0.0.1:1/';
    const server = await startMongoWireServer('the suite', { CI: 'true', MONGODB_URI: uri, CLOUDAI_FERRETDB_BIN: NOWHERE });
    expect(server?.uri).toBe(uri);
  });
});

describe('locateFerretDb', () => {
  let tools: TempDir;
  beforeAll(async () => {
    tools = await tempDir('cloudai-tools-');
    await writeFile(join(tools.path, 'ferretdb-embedded'), '');
  });
  afterAll(() => tools.remove());

  it('finds the binary .ci/provision.sh builds when CLOUDAI_FERRETDB_BIN is unset', () => {
    expect(locateFerretDb({ CLOUDAI_TOOLS_DIR: tools.path })).toEqual({ path: join(tools.path, 'ferretdb-embedded') });
  });

  it('does not fall back to it when CLOUDAI_FERRETDB_BIN names a missing file', () => {
    expect(locateFerretDb({ CLOUDAI_TOOLS_DIR: tools.path, CLOUDAI_FERRETDB_BIN: NOWHERE })).toEqual({
      missing: `CLOUDAI_FERRETDB_BIN=${NOWHERE} does not exist`,
    });
  });
});

describe('runningInCi', () => {
  it('is true for any CI value but empty, "false" and "0"', () => {
    for (const ci of ['true', '1', 'yes', 'TRUE']) expect(runningInCi({ CI: ci })).toBe(true);
    for (const ci of [undefined, '', 'false', 'FALSE', '0']) expect(runningInCi({ CI: ci })).toBe(false);
  });
});
