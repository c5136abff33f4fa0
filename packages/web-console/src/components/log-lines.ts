import { MAX_LOG_LINE_BYTES } from '@cloudai/domain';
import type { LogLine, LogStream } from '../api/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `text` cut as the server cuts a line: pieces of MAX_LOG_LINE_BYTES UTF-8
 * bytes while at least that many are left; returns the pieces and the rest.
 */
function cutLong(text: string): { pieces: string[]; rest: string } {
  // Fewer UTF-16 units than a third of the limit cannot reach it in UTF-8.
  if (text.length * 3 < MAX_LOG_LINE_BYTES) return { pieces: [], rest: text };
  let bytes = encoder.encode(text);
  if (bytes.length < MAX_LOG_LINE_BYTES) return { pieces: [], rest: text };
  const pieces: string[] = [];
  while (bytes.length >= MAX_LOG_LINE_BYTES) {
    pieces.push(decoder.decode(bytes.subarray(0, MAX_LOG_LINE_BYTES)));
    bytes = bytes.subarray(MAX_LOG_LINE_BYTES);
  }
  return { pieces, rest: decoder.decode(bytes) };
}

/**
 * Cuts followed log chunks into numbered lines. Each stream keeps its own
 * unfinished line, so a stderr chunk arriving in the middle of a stdout
 * line does not split it.
 */
export class LineSplitter {
  private next: number;
  private readonly partial: Record<LogStream, string>;

  /** From the start of a log, or after `lines` finished lines with each stream's unfinished one. */
  constructor(lines = 0, partial: Record<LogStream, string> = { stdout: '', stderr: '' }) {
    this.next = lines + 1;
    this.partial = { ...partial };
  }

  /** The lines `text` finishes, numbered; a line over MAX_LOG_LINE_BYTES comes in pieces, as the server numbers them. */
  push(stream: LogStream, text: string): LogLine[] {
    const parts = (this.partial[stream] + text).split('\n');
    const unfinished = parts.pop() ?? '';
    const out: LogLine[] = [];
    for (const part of parts) {
      const { pieces, rest } = cutLong(part);
      for (const t of [...pieces, rest]) out.push({ line: this.next++, stream, text: t });
    }
    const { pieces, rest } = cutLong(unfinished);
    for (const t of pieces) out.push({ line: this.next++, stream, text: t });
    this.partial[stream] = rest;
    return out;
  }

  /** The unfinished lines, once the log has ended. */
  flush(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') out.push({ line: this.next++, stream, text: this.partial[stream] });
      this.partial[stream] = '';
    }
    return out;
  }
}
