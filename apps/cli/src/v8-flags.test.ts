import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';

const BUILT = fileURLToPath(new URL('../dist/v8-flags.js', import.meta.url));
const RPC_CLIENT = pathToFileURL(createRequire(import.meta.url).resolve('@cloudai/rpc/client')).href;

/** Runs an ES module script in a new Node process; returns its stdout. */
function run(script: string): string {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return child.stdout.trim();
}

/** The young generation's size (KiB) in a new process that churns short-lived objects, after `setup`. */
function youngGenerationAfterChurn(setup: string): number {
  return Number(
    run(
      `${setup}\n` +
        "const { getHeapSpaceStatistics } = await import('node:v8');\n" +
        'let keep = [];\n' +
        "for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }\n" +
        "console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size >> 10);\n",
    ),
  );
}

const setFlags = `(await import(${JSON.stringify(BUILT)})).setRuntimeFlags();`;

describe('setRuntimeFlags', () => {
  it('keeps the young generation at its starting size where it would otherwise grow', () => {
    const grown = youngGenerationAfterChurn('');
    const kept = youngGenerationAfterChurn(setFlags);
    // Node 24 grows it to tens of MiB under this churn; kept, it stays a few MiB.
    expect(grown).toBeGreaterThanOrEqual(16 * 1024);
    expect(kept).toBeLessThanOrEqual(4 * 1024);
  });

  it('makes a code cache saved after a download collected garbage one the next start accepts', async () => {
    const dir = await tempDir('cloudai-v8-flags-');
    try {
      const cache = join(dir.path, 'cache');
      const source = 'function add(a, b) { return a + b; } add(1, 2);';
      // As a download run: flags, compile, the young collector's first collection, then the cache saved.
      run(
        `${setFlags}\n` +
          "const { Script } = await import('node:vm');\n" +
          `const script = new Script(${JSON.stringify(source)});\n` +
          'script.runInThisContext();\n' +
          `const { youngCollector } = await import(${JSON.stringify(RPC_CLIENT)});\n` +
          'youngCollector(1)(2);\n' +
          `(await import('node:fs')).writeFileSync(${JSON.stringify(cache)}, script.createCachedData());\n`,
      );
      expect(readFileSync(cache).length).toBeGreaterThan(0);
      // The next start: the same flags, then the cache.
      const rejected = run(
        `${setFlags}\n` +
          "const { Script } = await import('node:vm');\n" +
          `const cachedData = (await import('node:fs')).readFileSync(${JSON.stringify(cache)});\n` +
          `console.log(new Script(${JSON.stringify(source)}, { cachedData }).cachedDataRejected);\n`,
      );
      expect(rejected).toBe('false');
    } finally {
      await dir.remove();
    }
  });
});
