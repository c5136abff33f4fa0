import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogPrinter, withTimestamps } from './log-output.js';

const ts = new Date('2025-01-01T12:00:00.000Z');
const P = '2025-01-01T12:00:00.000Z ';

describe('withTimestamps', () => {
  it('prefixes every line that starts in the chunk', () => {
    expect(withTimestamps(Buffer.from('a\nb\n'), ts, true).toString()).toBe(`${P}a\n${P}b\n`);
  });

  it('does not prefix the rest of a line begun in an earlier chunk', () => {
    expect(withTimestamps(Buffer.from('rest\nnext'), ts, false).toString()).toBe(`rest\n${P}next`);
  });

  it('leaves binary bytes as they are', () => {
    const data = Buffer.from([0x00, 0xff, 0x0a, 0x80]);
    expect(withTimestamps(data, ts, true).equals(Buffer.concat([Buffer.from(P), data.subarray(0, 3), Buffer.from(P), data.subarray(3)]))).toBe(true);
  });
});

describe('LogPrinter', () => {
  it('starts its own notices on a fresh line after an unfinished stderr line', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const printer = new LogPrinter(out, err, false);
    await printer.chunk('stderr', Buffer.from('no newline'), ts);
    await printer.notice('--- done');
    await printer.chunk('stdout', Buffer.from('x'), ts);
    expect(err.read()?.toString()).toBe('no newline\n--- done\n');
    expect(out.read()?.toString()).toBe('x');
  });
});
