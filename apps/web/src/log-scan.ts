import type { LogStreamName } from '@cloudai/domain';
import type { LogStream, TaskOutcome } from '@cloudai/proto';
import { logStreamFromProto, logStreamToProto, NO_DEADLINE } from '@cloudai/rpc/client';
import type { RequestContext } from './context.js';
import { LineSplitter, type LineSink } from '@cloudai/domain/log-lines';

export interface ScanOptions {
  taskId: string;
  /** resume after this log position (0: from the start) */
  afterPosition?: number;
  /** only this stream; both when unset */
  stream?: LogStreamName;
  /** where the split stands at `afterPosition` */
  splitter?: LineSplitter;
  /** called after each chunk with its position, once its lines are out */
  onChunk?(position: number, splitter: LineSplitter): void;
  /**
   * Whether a chunk (with its stream's unfinished line before it) holds no
   * line the sink wants: its lines are then counted, not handed over.
   */
  skipChunk?(bytes: Buffer): boolean;
}

export interface ScanResult {
  /** the task's outcome, when the master sent one (a finished task's log) */
  outcome: TaskOutcome | undefined;
  /** the sink asked to stop before the log ended */
  stopped: boolean;
  lines: number;
}

/** Thrown by a sink to end a scan early; the master's stream is cancelled. */
export class StopScan extends Error {}

/**
 * Reads a task's stored log from the master (as the caller, no follow) and
 * hands it to `sink` line by line (without a sink, only counts the lines).
 * Only one chunk is held at a time; a sink that throws StopScan cancels the
 * master's stream.
 */
export async function scanLogLines(ctx: RequestContext, opts: ScanOptions, sink?: LineSink): Promise<ScanResult> {
  const splitter = opts.splitter ?? new LineSplitter();
  const cancel = new AbortController();
  const signal = AbortSignal.any([ctx.signal, cancel.signal]);
  let outcome: TaskOutcome | undefined;
  try {
    const stream = ctx.master.tasks.streamLogs(
      {
        taskId: opts.taskId,
        afterPosition: opts.afterPosition ?? 0,
        follow: false,
        streams: protoStreams(opts.stream),
        tailLines: 0,
        since: undefined,
      },
      ctx.call({ signal, deadline: NO_DEADLINE }),
    );
    for await (const res of stream) {
      if (res.outcome) {
        outcome = res.outcome;
        continue;
      }
      const entry = res.entry;
      // cloudai's own markers are not the task's lines.
      if (!entry?.chunk || entry.marker) continue;
      splitter.push(logStreamFromProto(entry.chunk.stream) ?? 'stderr', entry.chunk.data, sink, opts.skipChunk);
      opts.onChunk?.(entry.position, splitter);
    }
    splitter.end(sink);
    return { outcome, stopped: false, lines: splitter.count };
  } catch (err) {
    if (!(err instanceof StopScan)) throw err;
    cancel.abort();
    return { outcome, stopped: true, lines: splitter.count };
  }
}

/** The proto streams for a `stream` parameter: both when unset. */
export function protoStreams(stream: LogStreamName | undefined): LogStream[] {
  return stream ? [logStreamToProto(stream)] : [];
}
