import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderProgress, terminalProgress } from './progress.js';

const MB = 1024 * 1024;

describe('renderProgress', () => {
  it('shows bar, percent, bytes, rate and path', () => {
    expect(renderProgress({ done: 45 * MB, total: 100 * MB, rate: 5 * MB, path: 'models/model.bin' }, 200)).toBe(
      '[#########...........]  45% 45 MB / 100 MB  5 MB/s  models/model.bin',
    );
  });

  it('cuts the line to fit the terminal and neutralises control characters in the path', () => {
    const line = renderProgress({ done: 0, total: 10, rate: 0, path: 'a\u001b[2Jb' }, 30);
    expect(line).toHaveLength(29);
    expect(line).not.toContain('\u001b');
  });

  it('shows only the bytes when the total is unknown', () => {
    expect(renderProgress({ done: 2048, total: 0, rate: 1024, path: 'f' }, 200)).toBe('[....................]   0% 2 KB  1 KB/s  f');
  });
});

describe('terminalProgress', () => {
  it('redraws in place at most every 100 ms and leaves the final state on its own line', () => {
    const out = new PassThrough();
    let clock = 0;
    const progress = terminalProgress(Object.assign(out, { columns: 200 }), 4 * MB, () => clock);
    clock = 1000;
    progress.update(1 * MB, 'f');
    clock = 1050;
    progress.update(2 * MB, 'f'); // within 100 ms of the last draw: skipped
    clock = 2000;
    progress.update(4 * MB, 'f');
    progress.end();
    const text = String(out.read());
    expect(text.split('\r')).toEqual([
      '',
      '[#####...............]  25% 1 MB / 4 MB  1 MB/s  f\u001b[K',
      '[####################] 100% 4 MB / 4 MB  2 MB/s  f\u001b[K',
      '[####################] 100% 4 MB / 4 MB  2 MB/s  f\u001b[K\n',
    ]);
  });
});
