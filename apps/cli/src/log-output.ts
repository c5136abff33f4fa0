import { once } from 'node:events';
import type { Writable } from 'node:stream';

const NEWLINE = 0x0a;

/** Writes `data` and, when the stream's buffer is full, waits for it to drain so a fast log never piles up in memory. */
export async function writeAll(out: Writable, data: Uint8Array | string): Promise<void> {
  if (out.write(data)) return;
  // 'error' too: a closed pipe (| head) must end the wait instead of hanging it.
  await Promise.race([once(out, 'drain'), once(out, 'error')]);
}

interface Channel {
  out: Writable;
  /** whether the next byte written starts a line (for --timestamps and for cloudai's own lines) */
  atLineStart: boolean;
}

/**
 * Sends a task's log to the terminal: stdout chunks to stdout, stderr chunks
 * and cloudai's own lines to stderr. Without timestamps the task's bytes pass
 * through unchanged; with them, each line gets its chunk's time in front.
 */
export class LogPrinter {
  private readonly stdout: Channel;
  private readonly stderr: Channel;

  constructor(
    stdout: Writable,
    stderr: Writable,
    private readonly timestamps: boolean,
  ) {
    this.stdout = { out: stdout, atLineStart: true };
    this.stderr = { out: stderr, atLineStart: true };
  }

  async chunk(stream: 'stdout' | 'stderr', data: Uint8Array, ts: Date | undefined): Promise<void> {
    if (data.length === 0) return;
    const channel = stream === 'stdout' ? this.stdout : this.stderr;
    const bytes = this.timestamps ? withTimestamps(data, ts, channel.atLineStart) : data;
    channel.atLineStart = data[data.length - 1] === NEWLINE;
    await writeAll(channel.out, bytes);
  }

  /**
   * A line of cloudai's own (marker, warning, closing line) on stderr. It
   * starts on a fresh line so it is never glued to the task's unfinished one.
   */
  async notice(text: string): Promise<void> {
    const line = text.endsWith('\n') ? text : `${text}\n`;
    const lead = this.stderr.atLineStart ? '' : '\n';
    this.stderr.atLineStart = true;
    await writeAll(this.stderr.out, lead + line);
  }
}

/** Puts `<ISO time> ` before every line that starts in `data`. */
export function withTimestamps(data: Uint8Array, ts: Date | undefined, atLineStart: boolean): Buffer {
  const prefix = Buffer.from(`${ts && !Number.isNaN(ts.getTime()) ? ts.toISOString() : '-'} `);
  const parts: Uint8Array[] = [];
  let start = 0;
  let lineStart = atLineStart;
  while (start < data.length) {
    const nl = data.indexOf(NEWLINE, start);
    const end = nl < 0 ? data.length : nl + 1;
    if (lineStart) parts.push(prefix);
    parts.push(data.subarray(start, end));
    lineStart = nl >= 0;
    start = end;
  }
  return Buffer.concat(parts);
}
