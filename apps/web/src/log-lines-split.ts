import { MAX_LOG_LINE_BYTES, type LogStreamName } from '@cloudai/domain';

const NEWLINE = 0x0a;
/** A line longer than this is cut into pieces of it (see the domain's MAX_LOG_LINE_BYTES). */
export const MAX_LINE_BYTES = MAX_LOG_LINE_BYTES;

export type LineSink = (line: number, stream: LogStreamName, bytes: Buffer) => void;

/** Where a split stands between two chunks: the unfinished line of each stream, and how many lines came before. */
export interface SplitState {
  lines: number;
  pending: Record<LogStreamName, Buffer>;
}

/**
 * Cuts a task's log into numbered lines. stdout and stderr each have their
 * own unfinished line (a task's streams interleave mid-line); a line is
 * numbered when it is finished, in the order of the log, so every reader of
 * the same log (grep, the line pages) numbers it the same way.
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
    let bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const before = this.pending[stream];
    if (before.length > 0) bytes = Buffer.concat([before, bytes]);
    const emit = sink && !skip?.(bytes) ? sink : undefined;
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl < 0 ? bytes.length : nl;
      if (end - start >= MAX_LINE_BYTES) {
        this.lines++;
        if (emit) emit(this.lines, stream, bytes.subarray(start, start + MAX_LINE_BYTES));
        start += MAX_LINE_BYTES;
        continue;
      }
      if (nl < 0) break;
      this.lines++;
      if (emit) emit(this.lines, stream, bytes.subarray(start, nl));
      start = nl + 1;
    }
    // Copied: the chunk it came from is not kept.
    this.pending[stream] = Buffer.from(bytes.subarray(start));
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
