import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUILT = fileURLToPath(new URL('../dist/young-generation.js', import.meta.url));

/** The young generation's size (KiB) in a new process that churns short-lived objects, after `setup`. */
function youngGenerationAfterChurn(setup: string): number {
  const script =
    `${setup}\n` +
    "const { getHeapSpaceStatistics } = await import('node:v8');\n" +
    'let keep = [];\n' +
    "for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }\n" +
    "console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size >> 10);\n";
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return Number(run.stdout.trim());
}

describe('keepYoungGenerationSmall', () => {
  it('keeps the young generation at its starting size where it would otherwise grow', () => {
    const grown = youngGenerationAfterChurn('');
    const kept = youngGenerationAfterChurn(`(await import(${JSON.stringify(BUILT)})).keepYoungGenerationSmall();`);
    // Node 24 grows it to tens of MiB under this churn; kept, it stays a few MiB.
    expect(grown).toBeGreaterThanOrEqual(16 * 1024);
    expect(kept).toBeLessThanOrEqual(4 * 1024);
  });
});
