import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE_BYTES } from './log-lines.js';
import type { LogStreamName } from './logs.js';

// A log as a worker ships it: chunks cut mid-line, stderr between stdout,
// a line longer than MAX_LINE_BYTES, and an unfinished last line.
const CHUNKS: [LogStreamName, string][] = [
  ['stdout', 'one\ntwo\nthr'],
  ['stderr', 'warn: a\nwarn: b'],
  ['stdout', 'ee\nfour\n'],
  ['stdout', `${'x'.repeat(MAX_LINE_BYTES + 10)}\nfive\nNEE`],
  ['stderr', ' continued\n'],
  ['stdout', 'DLE six\nseven'],
];

function split(skip?: (bytes: Buffer) => boolean, withSink = true): { lines: [number, string, string][]; count: number } {
  const splitter = new LineSplitter();
  const lines: [number, string, string][] = [];
  const sink = withSink ? (n: number, stream: LogStreamName, bytes: Buffer) => void lines.push([n, stream, bytes.toString()]) : undefined;
  for (const [stream, text] of CHUNKS) splitter.push(stream, Buffer.from(text), sink, skip);
  splitter.end(sink);
  return { lines, count: splitter.count };
}

describe('LineSplitter', () => {
  it('numbers every line, cutting long ones, each stream keeping its own unfinished line', () => {
    const { lines, count } = split();
    expect(lines.map(([n, stream, text]) => [n, stream, text.length > 20 ? text.length : text])).toEqual([
      [1, 'stdout', 'one'],
      [2, 'stdout', 'two'],
      [3, 'stderr', 'warn: a'],
      [4, 'stdout', 'three'],
      [5, 'stdout', 'four'],
      [6, 'stdout', MAX_LINE_BYTES],
      [7, 'stdout', 'x'.repeat(10)],
      [8, 'stdout', 'five'],
      [9, 'stderr', 'warn: b continued'],
      [10, 'stdout', 'NEEDLE six'],
      [11, 'stdout', 'seven'],
    ]);
    expect(count).toBe(11);
  });

  it('counts the same lines without a sink', () => {
    expect(split(undefined, false).count).toBe(11);
  });

  it('counts the lines of skipped chunks, and asks with the unfinished line before the chunk', () => {
    const needle = Buffer.from('NEEDLE');
    const { lines, count } = split((bytes) => !bytes.includes(needle));
    // "NEE" + "DLE six" meet only in the last stdout chunk, with its unfinished line before it.
    expect(lines).toEqual([
      [10, 'stdout', 'NEEDLE six'],
      [11, 'stdout', 'seven'],
    ]);
    expect(count).toBe(11);
  });
});

/** The plain rule the splitter implements: each stream's bytes joined, then cut at newlines and every MAX_LINE_BYTES. */
function reference(chunks: [LogStreamName, Buffer][]): [number, string, string][] {
  const out: [number, string, string][] = [];
  const pending: Record<LogStreamName, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  for (const [stream, data] of chunks) {
    const bytes = Buffer.concat([pending[stream], data]);
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      if (end - start >= MAX_LINE_BYTES) {
        out.push([out.length + 1, stream, bytes.subarray(start, start + MAX_LINE_BYTES).toString('latin1')]);
        start += MAX_LINE_BYTES;
        continue;
      }
      if (nl < 0) break;
      out.push([out.length + 1, stream, bytes.subarray(start, nl).toString('latin1')]);
      start = nl + 1;
    }
    pending[stream] = bytes.subarray(start);
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    if (pending[stream].length > 0) out.push([out.length + 1, stream, pending[stream].toString('latin1')]);
  }
  return out;
}

describe('LineSplitter against the plain rule', () => {
  it('numbers random logs as the rule does: lines across chunks, pieces of long lines, lines of exactly the limit', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 60; round++) {
      const chunks: [LogStreamName, Buffer][] = [];
      for (let c = 0; c < 12; c++) {
        const parts: Buffer[] = [];
        for (let p = rand(6); p >= 0; p--) {
          // Lengths around the limit, less the stream's unfinished line, are where the joins and cuts meet.
          const len = [0, 1, 5, MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1, rand(3 * MAX_LINE_BYTES)][rand(7)]!;
          parts.push(Buffer.alloc(len, 97 + rand(26)), Buffer.from(rand(4) === 0 ? '' : '\n'));
        }
        chunks.push([rand(3) === 0 ? 'stderr' : 'stdout', Buffer.concat(parts)]);
      }
      const got: [number, string, string][] = [];
      const splitter = new LineSplitter();
      const sink = (n: number, stream: LogStreamName, bytes: Buffer) => void got.push([n, stream, bytes.toString('latin1')]);
      for (const [stream, data] of chunks) splitter.push(stream, data, sink);
      splitter.end(sink);
      const want = reference(chunks);
      expect(got.length, `round ${round}`).toBe(want.length);
      expect(got, `round ${round}`).toEqual(want);
      const counter = new LineSplitter();
      for (const [stream, data] of chunks) counter.push(stream, data);
      counter.end();
      expect(counter.count, `round ${round}`).toBe(want.length);
    }
  });
});
