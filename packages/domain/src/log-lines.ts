// Node only (Buffer): imported as '@cloudai/domain/log-lines', never from the
// package's root, which the browser console bundles.
import { MAX_LOG_LINE_BYTES } from './limits.js';
import type { LogStreamName } from './logs.js';

const NEWLINE = 0x0a;
/** A line longer than this is cut into pieces of it (see MAX_LOG_LINE_BYTES). */
export const MAX_LINE_BYTES = MAX_LOG_LINE_BYTES;

export type LineSink = (line: number, stream: LogStreamName, bytes: Buffer) => void;

/** Where a split stands between two chunks: the unfinished line of each stream, and how many lines came before. */
export interface SplitState {
  lines: number;
  pending: Record<LogStreamName, Buffer>;
}

/**
 * Cuts a task's log into numbered lines: the one numbering of a log's lines,
 * which the master's line index, the web app's pages and its grep share.
 * stdout and stderr each have their own unfinished line (a task's streams
 * interleave mid-line); a line is numbered when it is finished, in the order
 * of the log. cloudai's own markers are not the task's lines: callers leave
 * them out.
 */
export class LineSplitter {
  private lines: number;
  private readonly pending: Record<LogStreamName, Buffer>;

  constructor(state: SplitState = { lines: 0, pending: { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) } }) {
    this.lines = state.lines;
    this.pending = { ...state.pending };
  }

  /** Lines finished so far. */
  get count(): number {
    return this.lines;
  }

  /** Bytes of the streams' unfinished lines. */
  get pendingBytes(): number {
    return this.pending.stdout.length + this.pending.stderr.length;
  }

  /** A copy of where the split stands, to start another splitter from. */
  state(): SplitState {
    return { lines: this.lines, pending: { stdout: Buffer.from(this.pending.stdout), stderr: Buffer.from(this.pending.stderr) } };
  }

  /**
   * Numbers the lines `data` finishes and hands them to `sink`; without a
   * sink (or when `skip` says this chunk holds nothing the sink wants) they
   * are only counted, which is several times faster than making a Buffer of
   * each. `skip` gets the chunk with its stream's unfinished line before it.
   */
  push(stream: LogStreamName, data: Uint8Array, sink?: LineSink, skip?: (bytes: Buffer) => boolean): void {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const before = this.pending[stream];
    if (sink && skip && !skip(before.length > 0 ? Buffer.concat([before, chunk]) : chunk)) {
      this.split(stream, before, chunk, sink);
    } else {
      this.split(stream, before, chunk, skip ? undefined : sink);
    }
  }

  /**
   * The unfinished line before the chunk is joined only with the chunk's
   * first line (or first piece), not copied along with the whole chunk.
   */
  private split(stream: LogStreamName, before: Buffer, chunk: Buffer, emit: LineSink | undefined): void {
    let start = 0;
    if (before.length > 0) {
      const nl = chunk.indexOf(NEWLINE);
      const end = nl < 0 ? chunk.length : nl;
      const cut = before.length + end >= MAX_LINE_BYTES;
      if (!cut && nl < 0) {
        this.pending[stream] = Buffer.concat([before, chunk]);
        return;
      }
      // The joined first line, or its first piece when it is too long.
      const headEnd = cut ? MAX_LINE_BYTES - before.length : nl;
      this.lines++;
      if (emit) emit(this.lines, stream, Buffer.concat([before, chunk.subarray(0, headEnd)]));
      start = cut ? headEnd : nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl < 0 ? chunk.length : nl;
      if (end - start >= MAX_LINE_BYTES) {
        this.lines++;
        if (emit) emit(this.lines, stream, chunk.subarray(start, start + MAX_LINE_BYTES));
        start += MAX_LINE_BYTES;
        continue;
      }
      if (nl < 0) break;
      this.lines++;
      if (emit) emit(this.lines, stream, chunk.subarray(start, nl));
      start = nl + 1;
    }
    // Copied: the chunk it came from is not kept.
    this.pending[stream] = Buffer.from(chunk.subarray(start));
  }

  /** The log has ended: unfinished lines count as lines, stdout's first. */
  end(sink?: LineSink): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.pending[stream].length === 0) continue;
      this.lines++;
      if (sink) sink(this.lines, stream, this.pending[stream]);
      this.pending[stream] = Buffer.alloc(0);
    }
  }
}
