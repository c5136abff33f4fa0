import type { LogStreamName } from '@cloudai/domain';
import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE_BYTES } from './log-lines-split.js';

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
