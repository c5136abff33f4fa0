import { MAX_LOG_LINE_BYTES } from '@cloudai/domain';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from './log-lines.js';

// The console numbers a followed log's lines itself; they must be the
// server's numbers (search results and #L links use those), long lines included.
describe('LineSplitter', () => {
  it('numbers lines per stream, keeping each stream\'s unfinished line', () => {
    const s = new LineSplitter();
    expect(s.push('stdout', 'a\nb')).toEqual([{ line: 1, stream: 'stdout', text: 'a' }]);
    expect(s.push('stderr', 'e\n')).toEqual([{ line: 2, stream: 'stderr', text: 'e' }]);
    expect(s.push('stdout', 'c\n')).toEqual([{ line: 3, stream: 'stdout', text: 'bc' }]);
    expect(s.push('stdout', 'tail')).toEqual([]);
    expect(s.flush()).toEqual([{ line: 4, stream: 'stdout', text: 'tail' }]);
  });

  it('cuts a line longer than MAX_LOG_LINE_BYTES into pieces of it, as the server does, finished or not', () => {
    const s = new LineSplitter(10);
    const long = 'x'.repeat(MAX_LOG_LINE_BYTES * 2 + 5);
    expect(s.push('stdout', `${long}\nnext\n`).map((l) => [l.line, l.text.length])).toEqual([
      [11, MAX_LOG_LINE_BYTES],
      [12, MAX_LOG_LINE_BYTES],
      [13, 5],
      [14, 4],
    ]);
    // Arriving in small chunks without a newline: cut as soon as a piece is full.
    const chunk = 'y'.repeat(MAX_LOG_LINE_BYTES / 4);
    const got = [1, 2, 3, 4, 5].flatMap(() => s.push('stderr', chunk));
    expect(got.map((l) => [l.line, l.stream, l.text.length])).toEqual([[15, 'stderr', MAX_LOG_LINE_BYTES]]);
    expect(s.flush().map((l) => [l.line, l.text.length])).toEqual([[16, MAX_LOG_LINE_BYTES / 4]]);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const s = new LineSplitter();
    // 3 bytes each: a line of MAX/3 + 1 of them is over the limit in bytes, not in characters.
    const wide = '€'.repeat(Math.floor(MAX_LOG_LINE_BYTES / 3) + 1);
    const lines = s.push('stdout', `${wide}\n`);
    expect(lines).toHaveLength(2);
    expect(new TextEncoder().encode(lines[0]!.text).length).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES + 2);
  });
});
