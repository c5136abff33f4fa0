import type { Logger } from '@cloudai/logger';
import type { AppendLogsRequest, AppendLogsResponse } from '@cloudai/proto';
import { LogStream } from '@cloudai/proto';
import { MAX_LOG_CHUNK_BYTES, type LogStreamName } from '@cloudai/domain';
import { clientErrorKind, isStale, isTransient, logStreamToProto, withRetry } from '@cloudai/rpc';
import type { LogSpool, SpoolRecord, Taken } from './log-spool.js';
import type { ClusterClient } from './reporter.js';

/** Data per AppendLogs call: well under the 8 MiB message limit, and small enough to retry cheaply. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** The master refuses more chunks than 4096 in one call; many tiny writes should not get near that. */
const MAX_BATCH_CHUNKS = 1024;
/**
 * Output waiting for the disk beyond this is dropped: the disk is then
 * slower than the task writes, and memory must stay bounded all the same.
 */
const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;
/**
 * AppendLogs calls in flight at once: two, so that the worker's encoding,
 * the wire and the master's store overlap (a 200 MiB burst was stored at
 * 1.66× the raw json-file rate with one, 2.1× with two). Each batch after
 * the first names the last seq of the one before it (follows_seq), and the
 * master stores it only after that one: when batch N fails and is retried
 * while N+1 is in flight, the master holds N+1 back for N, or refuses it
 * with ABORTED, and it is resent once N has settled. (Without follows_seq,
 * two in flight could lose N: the master stored N+1 past the gap after its
 * order wait, then took the retried N for a resend of seqs it had.) So the
 * second is only sent to a master that said it honours follows_seq
 * (orders_batches); to an older one, one at a time.
 */
const MAX_IN_FLIGHT = 2;

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
  /** WORKER_LOG_SPOOL_BYTES: output not yet stored by the master beyond which new output is dropped */
  spoolBytes: number;
  /** where the output waits for the master (see LogSpool) */
  spool: LogSpool;
  logger: Logger;
  /** aborted when nobody wants these logs any more (cancelled, stale, worker gave up on reports) */
  signal: AbortSignal;
  /**
   * Asked when the signal ended the shipping early: true leaves what is
   * left in the spool for the worker's next process (it is exiting), false
   * deletes it (the assignment was dropped). Unset: deleted.
   */
  keepOnAbort?: () => boolean;
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
  /** output left in the spool for the worker's next process */
  leftBytes: number;
}

/** The chunk still growing: its bytes sit in the shipper's scratch buffer. */
interface OpenChunk {
  stream: LogStreamName;
  ts: Date;
  length: number;
}

interface Batch {
  request: AppendLogsRequest;
  taken: Taken | undefined;
  /** settles once the batch before it is acknowledged (or given up on) */
  previous: Promise<void>;
}

/**
 * Ships one assignment's container output to the master in ordered,
 * numbered batches, through its spool: `write` never blocks and never
 * applies backpressure to the container. Output the master has not stored
 * yet waits in the spool, on disk, up to `spoolBytes`; past that bound new
 * output is dropped, counted (the count goes to the master with the next
 * batch) and marked in the log where it was lost.
 */
export class LogShipper {
  private readonly log: Logger;
  private readonly spool: LogSpool;
  private open: OpenChunk | undefined;
  /**
   * Where the open chunk's bytes are gathered. Copying each piece in keeps
   * the cost per byte, not per write: a task writing one byte at a time
   * would otherwise cost an object per byte.
   */
  private scratch: Buffer | undefined;
  private inFlightBytes = 0;
  /** The last seq put in a batch: the next batch follows it. */
  private lastBatchedSeq: number | undefined;
  /** The last seq of the last batch the master stored: what a batch resent after a refused one follows. */
  private ackedSeq: number | undefined;
  /** The master honours follows_seq (see MAX_IN_FLIGHT); learned from its first answer. */
  private ordered = false;
  private unreportedDropped = 0;
  /** bytes dropped since the spool filled; marked in the log when output is kept again */
  private droppedRun = 0;
  private nextSeq = 0;
  private shipped = 0;
  private dropped = 0;
  private left = 0;
  private currentState: ShipperState = 'BUFFERING';
  private closing = false;
  /** the spool failed (a disk error): output is counted and dropped from then on */
  private broken = false;
  private ended = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly options: LogShipperOptions) {
    this.spool = options.spool;
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
    return { chunks: this.nextSeq, shippedBytes: this.shipped, droppedBytes: this.dropped, leftBytes: this.left };
  }

  /** Takes a piece of the container's output; synchronous so the attach stream never waits on the master. */
  write(stream: LogStreamName, data: Buffer): void {
    if (data.length === 0 || this.ended) return;
    if (this.currentState === 'STALE' || this.currentState === 'CLOSED' || this.options.signal.aborted) return;
    if (this.spool.failed) this.spoolFailed();
    if (this.currentState === 'CAPPED' || this.broken) return this.drop(data.length);
    const bound = this.options.spoolBytes;
    if (this.spool.unwrittenDataBytes > MAX_UNWRITTEN_BYTES) return this.drop(data.length, true);
    if (this.droppedRun > 0) {
      // Once full, the spool takes output again only when half of it has
      // gone to the master: one gap with one marker, not one per batch.
      if (this.held() > bound / 2) return this.drop(data.length, true);
      this.mark();
    }
    const room = bound - this.held();
    if (room < data.length) {
      // Keep what fits: the dropped tail is counted, and marked once output is kept again.
      this.drop(data.length - Math.max(0, room), true);
      if (room <= 0) return;
      data = data.subarray(0, room);
    }
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
    if (this.unsentBytes() >= MAX_BATCH_BYTES) this.wake();
  }

  /** Begins shipping; until then output is only spooled. */
  start(): void {
    if (this.loop) return;
    if (this.currentState === 'BUFFERING') this.currentState = 'SHIPPING';
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'log shipping failed');
    });
  }

  /**
   * Ships everything still spooled (retrying through master outages) and
   * stops. Resolves once the master has acknowledged it all, or the
   * shipper's signal gave up on it; then the spool is deleted, or left for
   * the next process (see keepOnAbort).
   */
  async close(): Promise<ShipperStats> {
    this.closing = true;
    this.seal();
    if (this.droppedRun > 0 && this.currentState !== 'CAPPED') this.mark();
    this.start();
    if (this.currentState === 'SHIPPING') this.currentState = 'CLOSING';
    this.wake();
    await this.loop;
    this.ended = true;
    this.scratch = undefined;
    const leftover = this.currentState !== 'STALE' && this.currentState !== 'CAPPED' && !this.spool.settled;
    if (leftover && this.options.signal.aborted && this.options.keepOnAbort?.()) {
      this.left = this.spool.pendingBytes;
      await this.spool.close();
      this.log.warn({ bytes: this.left, spool: this.spool.dir }, 'log output left in the spool for the next worker process');
    } else {
      await this.spool.remove().catch((err: unknown) => this.log.error({ err, spool: this.spool.dir }, 'could not remove a log spool'));
    }
    if (this.currentState !== 'STALE') this.currentState = 'CLOSED';
    const stats = this.stats();
    this.log.debug({ ...stats }, 'log shipping finished');
    return stats;
  }

  private async run(): Promise<void> {
    const { signal } = this.options;
    // Oldest first; each settles after the one before it.
    const inFlight: Promise<void>[] = [];
    // When the spool was last taken from: whatever is unsent was written since, and has waited that long.
    let takenAt = performance.now();
    try {
      while (!signal.aborted && this.currentState !== 'STALE') {
        const ready = this.closing || this.unsentBytes() >= MAX_BATCH_BYTES;
        // A partial batch waits out the flush interval, counted from the
        // last take rather than from the last answer: output written during
        // a round trip (up to ~0.8 s beside a burst) has waited through it,
        // and should not then wait a whole interval more.
        if (inFlight.length < (this.ordered ? MAX_IN_FLIGHT : 1)) {
          if (!ready) await this.sleep(this.options.flushMs - (performance.now() - takenAt));
          if (signal.aborted) return;
          takenAt = performance.now();
          const batch = await this.take(inFlight.at(-1) ?? Promise.resolve());
          if (batch) {
            inFlight.push(this.send(batch));
            continue;
          }
          if (inFlight.length === 0) {
            if (this.closing) return;
            continue;
          }
        }
        await inFlight.shift();
      }
    } finally {
      await Promise.all(inFlight);
    }
  }

  /** Output not yet stored by the master: what the spool bound applies to. */
  private held(): number {
    return this.spool.pendingBytes + (this.open?.length ?? 0);
  }

  private unsentBytes(): number {
    return this.held() - this.inFlightBytes;
  }

  /** The next batch, or undefined when there is nothing to send now. */
  private async take(previous: Promise<void>): Promise<Batch | undefined> {
    if (this.currentState === 'CAPPED') {
      // The master keeps no more data; it still learns how much was lost, once, at the end.
      if (!this.closing || this.unreportedDropped === 0) return undefined;
      return this.batch(undefined, previous);
    }
    this.seal();
    let taken: Taken | undefined;
    try {
      if (this.spool.failed) this.spoolFailed();
      if (!this.broken) taken = await this.spool.take(MAX_BATCH_BYTES, MAX_BATCH_CHUNKS);
    } catch (err) {
      this.spoolFailed(err);
    }
    if (!taken && this.unreportedDropped === 0) return undefined;
    return this.batch(taken, previous);
  }

  private batch(taken: Taken | undefined, previous: Promise<void>): Batch {
    const droppedBytes = this.unreportedDropped;
    this.unreportedDropped = 0;
    this.inFlightBytes += taken?.bytes ?? 0;
    const chunks = taken?.chunks ?? [];
    const followsSeq = this.lastBatchedSeq;
    this.lastBatchedSeq = chunks.at(-1)?.seq ?? followsSeq;
    return {
      request: { taskId: this.options.taskId, assignmentId: this.options.assignmentId, chunks, droppedBytes, followsSeq },
      taken,
      previous,
    };
  }

  private async send(batch: Batch): Promise<void> {
    const { signal } = this.options;
    const { chunks } = batch.request;
    const seqs = chunks.length ? { firstSeq: chunks[0]?.seq, lastSeq: chunks.at(-1)?.seq } : {};
    const bytes = batch.taken?.bytes ?? 0;
    try {
      // Resending the same request (same seqs) is safe: the master stores a
      // seq once.
      const response = await withRetry(() => this.appendInOrder(batch), {
        signal,
        retryable: isTransient,
        initialDelayMs: this.options.retryInitialDelayMs ?? 200,
        maxDelayMs: this.options.retryMaxDelayMs ?? 5_000,
        onRetry: (err, attempt, delayMs) =>
          this.log.warn({ ...seqs, attempt, delayMs, err }, 'master unavailable; resending logs'),
      });
      // The spool is acknowledged in order: through this batch means through every one before it.
      await batch.previous;
      this.inFlightBytes -= bytes;
      if (this.currentState === 'STALE') return;
      if (batch.taken) this.spool.ack(batch.taken);
      this.shipped += bytes;
      this.ordered = response.ordersBatches;
      if (chunks.length > 0) this.ackedSeq = chunks.at(-1)!.seq;
      if (response.capped && this.currentState !== 'CAPPED') {
        this.log.info({ ...seqs }, 'the master reached the log cap for this task; counting output from now on');
        this.currentState = 'CAPPED';
        // A batch still in flight is the master's to count: it keeps or drops it.
        this.discardPending(this.inFlightBytes);
      }
    } catch (err) {
      await batch.previous;
      this.inFlightBytes -= bytes;
      if (signal.aborted || this.currentState === 'STALE') return;
      if (isStale(err)) {
        this.log.info({ err }, 'master says the assignment is stale; no more logs');
        this.currentState = 'STALE';
        this.discardPending();
        this.options.onStale?.();
        return;
      }
      // Resending cannot fix a refusal; losing this batch beats stopping all logs.
      this.log.error({ ...seqs, err }, 'master refused a log batch; dropping it');
      if (batch.taken) this.spool.ack(batch.taken);
      this.drop(bytes);
      this.unreportedDropped += batch.request.droppedBytes;
    }
  }

  /**
   * One AppendLogs call of a batch. ABORTED says the master has not stored
   * the batch before it yet (that one is being resent, or was given up on):
   * once that one has settled, this one is sent again, following the last
   * batch the master did store (none: without follows_seq), so the master
   * waits for nothing it will not get.
   */
  private async appendInOrder(batch: Batch): Promise<AppendLogsResponse> {
    const { client, signal } = this.options;
    try {
      return await client.appendLogs(batch.request, { signal });
    } catch (err) {
      if (clientErrorKind(err) !== 'aborted' || batch.request.followsSeq === undefined) throw err;
      await batch.previous;
      batch.request = { ...batch.request, followsSeq: this.ackedSeq };
      return client.appendLogs(batch.request, { signal });
    }
  }

  private seal(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    // A buffer of its own, exactly as long as the data: the scratch buffer
    // is reused for the next chunk.
    const data = Buffer.from(this.scratch!.subarray(0, open.length));
    this.push({ seq: this.nextSeq++, stream: logStreamToProto(open.stream), ts: open.ts, data, marker: false });
  }

  private push(record: SpoolRecord): void {
    if (this.spool.failed) this.spoolFailed();
    if (this.broken) return this.drop(record.marker ? 0 : record.data.length);
    this.spool.push(record);
  }

  /** Notes in the log, where it happened, the output dropped since the spool filled. */
  private mark(): void {
    this.seal();
    const text =
      `\n[cloudai] ${this.droppedRun} bytes of output dropped here: the worker's log spool for this task ` +
      `was full (WORKER_LOG_SPOOL_BYTES = ${this.options.spoolBytes})\n`;
    this.droppedRun = 0;
    this.push({ seq: this.nextSeq++, stream: LogStream.LOG_STREAM_STDERR, ts: new Date(), data: Buffer.from(text), marker: true });
  }

  /** The disk failed the spool: what it held is dropped, and so is all later output. */
  private spoolFailed(err: unknown = this.spool.failed): void {
    if (this.broken) return;
    this.broken = true;
    this.log.error({ err, spool: this.spool.dir }, 'the log spool failed; output not yet shipped is dropped from now on');
    this.discardPending();
  }

  /** Drops what the master has not stored, but for `sentBytes` of it, which it has been sent and will count. */
  private discardPending(sentBytes = 0): void {
    this.open = undefined;
    this.scratch = undefined;
    this.drop(this.spool.discardPending() - sentBytes);
    this.droppedRun = 0;
  }

  /** Counts output lost; `full`: lost to the spool's bound, and so marked in the log once output is kept again. */
  private drop(bytes: number, full = false): void {
    if (bytes <= 0) return;
    if (this.dropped === 0) this.log.warn({ bytes, full }, 'dropping log output (spool full, log capped or spool failed)');
    this.dropped += bytes;
    this.unreportedDropped += bytes;
    if (full) this.droppedRun += bytes;
    this.options.onDropped?.(bytes);
  }

  private wake(): void {
    this.wakeUp?.();
  }

  /** Waits `ms` (none when it is not positive), or less when woken (a full batch, close, abort). */
  private sleep(ms: number): Promise<void> {
    if (!(ms > 0)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
