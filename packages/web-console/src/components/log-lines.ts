import type { LogLine, LogStream } from '../api/types.js';

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

  push(stream: LogStream, text: string): LogLine[] {
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    return parts.map((t) => ({ line: this.next++, stream, text: t }));
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
