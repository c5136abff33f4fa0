import type { Logger } from '@cloudai/logger';
import type { AppendLogsRequest, LogChunk } from '@cloudai/proto';
import { MAX_LOG_CHUNK_BYTES, type LogStreamName } from '@cloudai/domain';
import { isStale, isTransient, logStreamToProto, withRetry } from '@cloudai/rpc';
import type { ClusterClient } from './reporter.js';

/** Data per AppendLogs call: well under the 8 MiB message limit, and small enough to retry cheaply. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** The master refuses more chunks than 4096 in one call; many tiny writes should not get near that. */
const MAX_BATCH_CHUNKS = 1024;

/**
 * BUFFERING until the task's RUNNING report is through (the master may
 * refuse logs for a task it still sees as SCHEDULED); SHIPPING; CLOSING
 * while the final batches go out; CAPPED when the master has all it will
 * keep; STALE when it says the assignment is no longer current; CLOSED.
 */
export type ShipperState = 'BUFFERING' | 'SHIPPING' | 'CLOSING' | 'CAPPED' | 'STALE' | 'CLOSED';

export interface LogShipperOptions {
  client: ClusterClient;
  taskId: string;
  assignmentId: string;
  /** WORKER_LOG_FLUSH_MS */
  flushMs: number;
  /** WORKER_LOG_BUFFER_BYTES: output held (pending and in flight) before new output is dropped */
  bufferBytes: number;
  logger: Logger;
  /** aborted when nobody wants these logs any more (cancelled, stale, worker gave up on reports) */
  signal: AbortSignal;
  /** called once when the master calls the assignment stale */
  onStale?: () => void;
  /** told of every piece of output dropped (the worker's metrics) */
  onDropped?: (bytes: number) => void;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
}

export interface ShipperStats {
  /** chunks numbered so far: the next seq */
  chunks: number;
  shippedBytes: number;
  droppedBytes: number;
}

/** The chunk still growing: its bytes sit in the shipper's scratch buffer. */
interface OpenChunk {
  stream: LogStreamName;
  ts: Date;
  length: number;
}

interface Batch {
  request: AppendLogsRequest;
  bytes: number;
}

/**
 * Ships one assignment's container output to the master in ordered,
 * numbered batches. `write` never blocks and never applies backpressure to
 * the container: when the bounded buffer is full, new output is dropped and
 * counted, and the count goes to the master with the next batch.
 */
export class LogShipper {
  private readonly log: Logger;
  private readonly sealed: LogChunk[] = [];
  private sealedBytes = 0;
  private open: OpenChunk | undefined;
  /**
   * Where the open chunk's bytes are gathered. Copying each piece in keeps
   * the cost per byte, not per write: a task writing one byte at a time
   * would otherwise cost an object per byte.
   */
  private scratch: Buffer | undefined;
  /** pending plus in flight: what the buffer bound applies to */
  private bufferedBytes = 0;
  private unreportedDropped = 0;
  private nextSeq = 0;
  private shipped = 0;
  private dropped = 0;
  private currentState: ShipperState = 'BUFFERING';
  private closing = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly options: LogShipperOptions) {
    this.log = options.logger.child({
      component: 'log-shipper',
      taskId: options.taskId,
      assignmentId: options.assignmentId,
    });
    options.signal.addEventListener('abort', () => this.wake(), { once: true });
  }

  get state(): ShipperState {
    return this.currentState;
  }

  stats(): ShipperStats {
    return { chunks: this.nextSeq, shippedBytes: this.shipped, droppedBytes: this.dropped };
  }

  /** Takes a piece of the container's output; synchronous so the attach stream never waits on the master. */
  write(stream: LogStreamName, data: Buffer): void {
    if (data.length === 0) return;
    if (this.currentState === 'STALE' || this.currentState === 'CLOSED' || this.options.signal.aborted) return;
    if (this.currentState === 'CAPPED') return this.drop(data.length);
    const room = this.options.bufferBytes - this.bufferedBytes;
    if (room < data.length) {
      // Keep what fits: the dropped tail is counted, never replaced by anything.
      this.drop(data.length - Math.max(0, room));
      if (room <= 0) return;
      data = data.subarray(0, room);
    }
    this.bufferedBytes += data.length;
    let at = 0;
    while (at < data.length) {
      if (this.open && (this.open.stream !== stream || this.open.length === MAX_LOG_CHUNK_BYTES)) this.seal();
      const open = (this.open ??= { stream, ts: new Date(), length: 0 });
      const take = Math.min(MAX_LOG_CHUNK_BYTES - open.length, data.length - at);
      this.scratch ??= Buffer.allocUnsafe(MAX_LOG_CHUNK_BYTES);
      data.copy(this.scratch, open.length, at, at + take);
      open.length += take;
      at += take;
    }
    // A full batch waiting goes out now rather than at the next tick, so a
    // fast producer is shipped as fast as the master takes it.
    if (this.pendingBytes() >= MAX_BATCH_BYTES) this.wake();
  }

  /** Begins shipping; until then output is only buffered. */
  start(): void {
    if (this.loop) return;
    if (this.currentState === 'BUFFERING') this.currentState = 'SHIPPING';
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'log shipping failed');
    });
  }

  /**
   * Ships everything still buffered (retrying through master outages) and
   * stops. Resolves once the master has acknowledged it all, or the
   * shipper's signal gave up on it.
   */
  async close(): Promise<ShipperStats> {
    this.closing = true;
    this.start();
    if (this.currentState === 'SHIPPING') this.currentState = 'CLOSING';
    this.wake();
    await this.loop;
    if (this.currentState !== 'STALE') this.currentState = 'CLOSED';
    this.scratch = undefined;
    const stats = this.stats();
    this.log.debug({ ...stats }, 'log shipping finished');
    return stats;
  }

  private async run(): Promise<void> {
    const { signal } = this.options;
    while (!signal.aborted && this.currentState !== 'STALE') {
      if (!this.closing && this.pendingBytes() < MAX_BATCH_BYTES) await this.sleep();
      if (signal.aborted) return;
      const batch = this.take();
      if (batch) await this.send(batch);
      else if (this.closing) return;
    }
  }

  private pendingBytes(): number {
    return this.sealedBytes + (this.open?.length ?? 0);
  }

  /** The next batch, or undefined when there is nothing to send now. */
  private take(): Batch | undefined {
    if (this.currentState === 'CAPPED') {
      // The master keeps no more data; it still learns how much was lost, once, at the end.
      if (!this.closing || this.unreportedDropped === 0) return undefined;
      return this.batch([], 0);
    }
    this.seal();
    const chunks: LogChunk[] = [];
    let bytes = 0;
    while (chunks.length < MAX_BATCH_CHUNKS) {
      const next = this.sealed[0];
      if (!next || (chunks.length > 0 && bytes + next.data.length > MAX_BATCH_BYTES)) break;
      this.sealed.shift();
      chunks.push(next);
      bytes += next.data.length;
    }
    this.sealedBytes -= bytes;
    if (chunks.length === 0 && this.unreportedDropped === 0) return undefined;
    return this.batch(chunks, bytes);
  }

  private batch(chunks: LogChunk[], bytes: number): Batch {
    const droppedBytes = this.unreportedDropped;
    this.unreportedDropped = 0;
    return {
      request: { taskId: this.options.taskId, assignmentId: this.options.assignmentId, chunks, droppedBytes },
      bytes,
    };
  }

  private async send(batch: Batch): Promise<void> {
    const { client, signal } = this.options;
    const seqs = batch.request.chunks.length
      ? { firstSeq: batch.request.chunks[0]?.seq, lastSeq: batch.request.chunks.at(-1)?.seq }
      : {};
    try {
      // Resending the same request (same seqs) is safe: the master stores a
      // seq once.
      const response = await withRetry(() => client.appendLogs(batch.request, { signal }), {
        signal,
        retryable: isTransient,
        initialDelayMs: this.options.retryInitialDelayMs ?? 200,
        maxDelayMs: this.options.retryMaxDelayMs ?? 5_000,
        onRetry: (err, attempt, delayMs) =>
          this.log.warn({ ...seqs, attempt, delayMs, err }, 'master unavailable; resending logs'),
      });
      this.bufferedBytes -= batch.bytes;
      this.shipped += batch.bytes;
      if (response.capped && this.currentState !== 'CAPPED') {
        this.log.info({ ...seqs }, 'the master reached the log cap for this task; counting output from now on');
        this.currentState = 'CAPPED';
        this.discardPending();
      }
    } catch (err) {
      if (signal.aborted) return;
      this.bufferedBytes -= batch.bytes;
      if (isStale(err)) {
        this.log.info({ err }, 'master says the assignment is stale; no more logs');
        this.currentState = 'STALE';
        this.discardPending();
        this.options.onStale?.();
        return;
      }
      // Resending cannot fix a refusal; losing this batch beats stopping all logs.
      this.log.error({ ...seqs, err }, 'master refused a log batch; dropping it');
      this.drop(batch.bytes);
      this.unreportedDropped += batch.request.droppedBytes;
    }
  }

  private seal(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    // A buffer of its own, exactly as long as the data: the scratch buffer
    // is reused for the next chunk.
    const data = Buffer.from(this.scratch!.subarray(0, open.length));
    this.sealed.push({ seq: this.nextSeq++, stream: logStreamToProto(open.stream), ts: open.ts, data });
    this.sealedBytes += data.length;
  }

  private discardPending(): void {
    this.seal();
    this.scratch = undefined;
    this.drop(this.sealedBytes);
    this.bufferedBytes -= this.sealedBytes;
    this.sealed.length = 0;
    this.sealedBytes = 0;
  }

  private drop(bytes: number): void {
    if (bytes <= 0) return;
    if (this.dropped === 0) this.log.warn({ bytes }, 'log buffer full or capped; dropping output');
    this.dropped += bytes;
    this.unreportedDropped += bytes;
    this.options.onDropped?.(bytes);
  }

  private wake(): void {
    this.wakeUp?.();
  }

  /** Waits one flush interval, or less when woken (a full batch, close, abort). */
  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.flushMs);
      this.wakeUp = done;
    });
  }
}
