import { describe, expect, it } from 'vitest';
import {
  clean,
  colorStatus,
  formatAge,
  formatBytes,
  formatDuration,
  formatKeyValues,
  formatNumber,
  formatTable,
  formatTimestamp,
  shellQuote,
  shouldColor,
} from './format.js';

const ESC = '\u001b';

describe('shouldColor', () => {
  it('colours only a terminal without NO_COLOR', () => {
    expect(shouldColor(true, {})).toBe(true);
    expect(shouldColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor(true, { NO_COLOR: '' })).toBe(true);
    expect(shouldColor(false, {})).toBe(false);
    expect(shouldColor(undefined, {})).toBe(false);
  });
});

describe('colorStatus', () => {
  it('wraps a status in its colour only when enabled', () => {
    expect(colorStatus('FAILED', true)).toBe('\u001b[31mFAILED\u001b[0m');
    expect(colorStatus('SUCCEEDED', true)).toBe('\u001b[32mSUCCEEDED\u001b[0m');
    expect(colorStatus('FAILED', false)).toBe('FAILED');
    expect(colorStatus('SCHEDULED', true)).toBe('SCHEDULED');
  });
});

describe('formatTable', () => {
  it('aligns columns by their widest cell and leaves the last column unpadded', () => {
    const out = formatTable(['ID', 'STATUS', 'AGE'], [['a', 'RUNNING', '5s'], ['longer-id', 'QUEUED', '12m']]);
    expect(out).toBe(['ID         STATUS   AGE', 'a          RUNNING  5s', 'longer-id  QUEUED   12m'].join('\n'));
  });

  it('keeps alignment when cells are coloured', () => {
    const out = formatTable(['S', 'X'], [[{ text: 'FAILED', colour: 'red' }, 'x'], ['OK', 'y']], true);
    const plain = out.replace(new RegExp(`${ESC}\\[\\d+m`, 'g'), '');
    expect(plain).toBe(['S       X', 'FAILED  x', 'OK      y'].join('\n'));
    expect(out).toContain('\u001b[31mFAILED\u001b[0m  x');
  });

  it('neutralises control characters in cells', () => {
    expect(formatTable(['A'], [['x\u001b[2Jy']])).toBe('A\nx?[2Jy');
  });
});

describe('formatKeyValues', () => {
  it('aligns values after the longest key', () => {
    expect(formatKeyValues([['Task ID', 'abc'], ['Status', 'QUEUED']], '  ')).toBe('  Task ID:  abc\n  Status:   QUEUED');
  });

  it('prints a key with an empty value as a heading', () => {
    expect(formatKeyValues([['Resources', ''], ['  CPU', '2 cores']])).toBe('Resources:\n  CPU:      2 cores');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [42_000, '42s'],
    [192_000, '3m 12s'],
    [180_000, '3m'],
    [2 * 3600_000 + 5 * 60_000, '2h 5m'],
    [3 * 86_400_000 + 4 * 3600_000, '3d 4h'],
    [-1, '-'],
    [Number.NaN, '-'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatAge', () => {
  const now = new Date('2025-01-02T00:00:00Z');
  it.each([
    ['2025-01-01T23:59:48Z', '12s'],
    ['2025-01-01T23:55:00Z', '5m'],
    ['2025-01-01T21:00:00Z', '3h'],
    ['2024-12-30T00:00:00Z', '3d'],
    ['2025-01-02T00:00:05Z', '0s'],
  ])('since %s is %s', (since, text) => {
    expect(formatAge(new Date(since), now)).toBe(text);
  });

  it('is "-" without a time', () => {
    expect(formatAge(undefined, now)).toBe('-');
  });
});

describe('formatTimestamp', () => {
  it('prints UTC to the second', () => {
    expect(formatTimestamp(new Date('2025-01-01T12:00:00.789Z'))).toBe('2025-01-01 12:00:00 UTC');
    expect(formatTimestamp(undefined)).toBe('-');
    expect(formatTimestamp(new Date(Number.NaN))).toBe('-');
  });
});

describe('formatNumber and formatBytes', () => {
  it('drops trailing zeros', () => {
    expect(formatNumber(2)).toBe('2');
    expect(formatNumber(0.5)).toBe('0.5');
    expect(formatNumber(1 / 3)).toBe('0.333');
  });

  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2 KB');
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MB');
  });
});

describe('shellQuote', () => {
  it('quotes only what a shell would split or expand', () => {
    expect(shellQuote(['sh', '-c', 'echo hi'])).toBe("sh -c 'echo hi'");
    expect(shellQuote(['echo', "it's"])).toBe(`echo 'it'\\''s'`);
    expect(shellQuote(['python', '/app/train.py', '--lr=0.1'])).toBe('python /app/train.py --lr=0.1');
    expect(shellQuote(['echo', ''])).toBe("echo ''");
    expect(shellQuote(['echo', '$HOME'])).toBe("echo '$HOME'");
  });
});

describe('clean', () => {
  it('replaces control characters, keeping printable text', () => {
    expect(clean('ok\ttab\nnl\u001b[0m\u009b')).toBe('ok?tab?nl?[0m?');
    expect(clean('naïve ✓')).toBe('naïve ✓');
  });
});
