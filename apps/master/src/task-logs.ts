import { isTerminal, MAX_LOG_CHUNK_BYTES, type LogStreamName } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { aborted, DomainError, failedPrecondition, invalidArgument, notFound } from '@cloudai/rpc';
import { Status } from 'nice-grpc';
import { KeyedMutex, logPosition, type LogChunkRecord, type Store, type TaskRecord } from '@cloudai/store';
import type { MasterEvents } from './events.js';
import { indexLogLines, type LogLineIndex } from './log-line-index.js';

/** Chunks per AppendLogs call; with MAX_LOG_CHUNK_BYTES this bounds a call's memory. */
const MAX_CHUNKS_PER_CALL = 4096;
/** The marker's seq: above any worker seq of its attempt, so it sorts after them. */
const MARKER_SEQ = 2 ** 32 - 1;
/** Chunks read from the store per page while streaming (tail search: per page backwards). */
const PAGE = 256;
/**
 * Bytes a streaming page aims at. A page is read whole, synchronously on
 * SQLite, before its first chunk goes out: 256 full chunks were 64 MiB held
 * at once and the client waiting for all of them. Pages are sized from the
 * last one's chunk sizes, so reading the store and sending overlap.
 */
const PAGE_BYTES = 1024 * 1024;
const FIRST_PAGE = 4;

/**
 * Chunks for the next page: about PAGE_BYTES at the last page's average chunk
 * size, 1 to PAGE; the first page, of sizes not yet seen, FIRST_PAGE (at most
 * 1 MiB of the largest chunks). Each reader holds its page while it sends it:
 * at a floor of 8 chunks (16 the first page), 20 followers of a log of full
 * 256 KiB chunks held 2–4 MiB each, most of the master's live memory.
 */
function nextPageSize(last: readonly LogChunkRecord[]): number {
  if (last.length === 0) return FIRST_PAGE;
  const bytes = last.reduce((sum, c) => sum + c.data.byteLength, 0);
  return Math.max(1, Math.min(PAGE, Math.floor(PAGE_BYTES / Math.max(1, bytes / last.length))));
}
/**
 * How long a batch that arrived before the ones it follows waits for them:
 * then it is refused when its worker said which batch it follows (that one
 * is being resent, or was given up on; the worker resends this one once it
 * knows), and stored anyway when it did not.
 */
const ORDER_WAIT_MS = 2_000;
/**
 * How long a page read for one reader is served to the others of the same
 * log reading from the same place: followers of a running task wake
 * together and ask for the same pages, and 20 of them would otherwise read
 * (and hold, and encode) 20 copies of each. A page that reached the log's
 * end is kept briefly, so that another master's appends are seen soon (an
 * append here forgets it at once); a full page never changes.
 */
const SHARED_SHORT_PAGE_MS = 250;
const SHARED_FULL_PAGE_MS = 1_000;
/** Pages kept per followed log. */
const SHARED_PAGES = 4;
/** Followers re-check the store at least this often, in case a wake-up was missed (another master, a restart). */
const FOLLOW_RECHECK_MS = 1_000;

export interface IncomingChunk {
  seq: number;
  stream: LogStreamName | undefined;
  ts: Date | undefined;
  data: Uint8Array;
  /** the worker's note of output it dropped, not the task's */
  marker: boolean;
}

export interface LogReadRequest {
  afterPosition: number;
  follow: boolean;
  streams: LogStreamName[];
  tailLines: number;
  since: Date | undefined;
}

export type LogEvent =
  | { kind: 'entry'; chunk: LogChunkRecord; position: number }
  | { kind: 'outcome'; task: TaskRecord };

/**
 * A task's log: appended by its worker in ordered, idempotent batches and
 * read by any number of followers through one code path, whether the task is
 * running or long finished.
 */
export class TaskLogs {
  /** Aborted on shutdown: followers end their streams (clients resume elsewhere or after the restart). */
  private readonly closing = new AbortController();
  /** Appends of one task run one at a time (see append). */
  private readonly turns = new KeyedMutex();
  /** Pages lately read of each log being read, with how many reads are under way (see SHARED_FULL_PAGE_MS). */
  private readonly shared = new Map<string, SharedPages>();

  constructor(
    private readonly store: Store,
    private readonly events: MasterEvents,
    private readonly log: Logger,
    private readonly options: { maxBytesPerTask: number },
  ) {}

  /** Where every ~`everyLines`-th line of the task's log starts (see log-line-index.ts). */
  lineIndex(task: TaskRecord, everyLines: number): Promise<LogLineIndex> {
    return indexLogLines(this.store, task, everyLines);
  }

  /** Ends every follow stream; called before the server drains. */
  close(): void {
    this.closing.abort();
  }

  async append(
    taskId: string,
    assignmentId: string,
    workerId: string,
    incoming: IncomingChunk[],
    workerDroppedBytes: number,
    followsSeq?: number,
  ): Promise<{ storedThroughSeq: number; capped: boolean; ordersBatches: boolean }> {
    if (incoming.length > MAX_CHUNKS_PER_CALL) {
      throw invalidArgument(`chunks must hold at most ${MAX_CHUNKS_PER_CALL} entries, got ${incoming.length}`);
    }
    let previousSeq = -1;
    for (const [i, c] of incoming.entries()) {
      if (!Number.isSafeInteger(c.seq) || c.seq < 0 || c.seq >= MARKER_SEQ) throw invalidArgument(`chunks[${i}].seq is out of range`);
      if (c.seq <= previousSeq) throw invalidArgument(`chunks[${i}].seq must increase (got ${c.seq} after ${previousSeq})`);
      if (!c.stream) throw invalidArgument(`chunks[${i}].stream must be STDOUT or STDERR`);
      if (c.data.byteLength > MAX_LOG_CHUNK_BYTES) {
        throw invalidArgument(`chunks[${i}].data must be at most ${MAX_LOG_CHUNK_BYTES} bytes, got ${c.data.byteLength}`);
      }
      previousSeq = c.seq;
    }
    if (!Number.isSafeInteger(workerDroppedBytes) || workerDroppedBytes < 0) {
      throw invalidArgument('dropped_bytes must be a non-negative integer');
    }
    const first = incoming[0]?.seq;
    if (followsSeq !== undefined && (!Number.isSafeInteger(followsSeq) || (first !== undefined && followsSeq >= first))) {
      throw invalidArgument(`follows_seq must be below chunks[0].seq (got ${followsSeq} before ${first})`);
    }

    // One append of a task at a time, so the cap and the counters see the
    // one before; and in seq order, since a worker keeps several batches in
    // flight and they may arrive in any order, while a follower resumes
    // after the last chunk it read: a later batch stored first would leave
    // it a gap. A batch past the next expected seq waits for the ones
    // before it, but not forever: a batch the worker gave up on leaves a
    // gap that is never filled. Past the wait, a batch that names the one
    // it follows is refused rather than stored past the gap: that one may
    // yet come (a resend), and storing this one first would then have it
    // taken for a resend of seqs already stored, and lost.
    const deadline = performance.now() + ORDER_WAIT_MS;
    for (;;) {
      let turn: Promise<void> | undefined;
      const result = await this.turns.run(taskId, async () => {
        const task = await this.appendableTask(taskId, assignmentId, workerId);
        // A resent batch (its response was lost) must not count twice: only
        // seqs above the highest stored for this attempt are new. The marker
        // sorts last, so once it is stored nothing more of this attempt is new.
        const latest = await this.store.lastLogSeq(taskId);
        const storedThrough = latest && latest.attempt === task.attempt ? latest.seq : -1;
        const missing = followsSeq ?? (first === undefined ? -1 : first - 1);
        const early = storedThrough < MARKER_SEQ && storedThrough < missing;
        const wait = deadline - performance.now();
        if (early && wait > 0) {
          // Listening before the turn ends, so the append it waits for cannot slip by.
          turn = this.events.waitForTask(taskId, AbortSignal.timeout(Math.ceil(wait)));
          return undefined;
        }
        if (early && followsSeq !== undefined) {
          throw aborted(
            `chunks through seq ${followsSeq} of task ${taskId} are not stored (through ${storedThrough}); resend this batch after them`,
          );
        }
        return this.storeBatch(task, assignmentId, incoming, storedThrough, workerDroppedBytes);
      });
      if (result) return { storedThroughSeq: previousSeq < 0 ? 0 : previousSeq, capped: result.capped, ordersBatches: true };
      await turn;
    }
  }

  /** The task, when `assignmentId` on `workerId` may append to its log now. */
  private async appendableTask(taskId: string, assignmentId: string, workerId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw notFound(`task ${taskId} not found`);
    if (task.assignmentId !== assignmentId) {
      throw failedPrecondition(`assignment ${assignmentId} is no longer current for task ${taskId}`);
    }
    if (task.workerId !== workerId) {
      throw new DomainError(Status.PERMISSION_DENIED, `assignment ${assignmentId} is not placed on worker ${workerId}`);
    }
    // A worker ships logs once its RUNNING report is through. Refusing them
    // before keeps an assignment that never started free of log chunks,
    // which is what lets an undelivered one give its attempt back.
    if (task.status === 'SCHEDULED') {
      throw failedPrecondition(`task ${taskId} is SCHEDULED; report it RUNNING before sending its log`);
    }
    return task;
  }

  /** Stores the new chunks of a batch under the task's cap and counts what was stored and dropped. */
  private async storeBatch(
    task: TaskRecord,
    assignmentId: string,
    incoming: IncomingChunk[],
    storedThrough: number,
    workerDroppedBytes: number,
  ): Promise<{ capped: boolean }> {
    const { taskId } = task;
    // Past the cap's marker, nothing more is stored; a batch the worker sent
    // before it heard of the cap (it keeps two in flight) is counted as
    // dropped, above the last chunk stored before the marker. (A resend of
    // such a batch, its answer lost, would be counted again.)
    const newAbove = storedThrough === MARKER_SEQ ? await this.lastSeqBeforeMarker(task) : storedThrough;
    const fresh = incoming.filter((c) => c.seq > newAbove);
    // Keep what fits under the per-task cap, cutting the chunk that crosses it.
    let room = Math.max(0, this.options.maxBytesPerTask - task.logBytes);
    const now = new Date();
    const keep: LogChunkRecord[] = [];
    let capDropped = 0;
    for (const c of fresh) {
      const data = c.data.byteLength <= room ? c.data : c.data.subarray(0, room);
      capDropped += c.data.byteLength - data.byteLength;
      room -= data.byteLength;
      if (data.byteLength > 0 || c.data.byteLength === 0) {
        keep.push({ taskId, assignmentId, attempt: task.attempt, seq: c.seq, stream: c.stream!, ts: c.ts ?? now, data, marker: c.marker });
      }
    }
    const { insertedBytes } = await this.store.appendLogChunks(keep);
    if (insertedBytes > 0) forgetShortPages(this.shared.get(taskId));
    const capped = capDropped > 0 || task.logBytes + insertedBytes >= this.options.maxBytesPerTask;
    if (capDropped > 0) {
      const marker = Buffer.from(
        `\n[cloudai] log truncated: the task's log reached the ${formatBytes(this.options.maxBytesPerTask)} limit; further output is dropped\n`,
      );
      await this.store.appendLogChunks([
        { taskId, assignmentId, attempt: task.attempt, seq: MARKER_SEQ, stream: 'stderr', ts: now, data: marker, marker: true },
      ]);
    }
    // A worker's dropped count rides on a batch; a resent batch carries it again.
    const workerDropped = fresh.length > 0 || incoming.length === 0 ? workerDroppedBytes : 0;
    if (insertedBytes > 0 || capDropped > 0 || workerDropped > 0) {
      await this.store.addLogBytes(taskId, insertedBytes, capDropped + workerDropped);
    }
    if (keep.length > 0 || capDropped > 0 || workerDropped > 0) {
      this.events.emit({ kind: 'logs', taskId, storedBytes: insertedBytes, droppedBytes: capDropped + workerDropped });
    }
    return { capped };
  }

  /** The seq of the last chunk stored before the cap's marker in the task's current attempt, -1 when none. */
  private async lastSeqBeforeMarker(task: TaskRecord): Promise<number> {
    const beforePosition = logPosition({ attempt: task.attempt, seq: MARKER_SEQ });
    const [last] = await this.store.readLogChunksBackward(task.taskId, { beforePosition, limit: 1 });
    return last && last.attempt === task.attempt ? last.seq : -1;
  }

  /**
   * Everything stored from a position on, then (when following) new chunks
   * as they arrive, then the outcome once the task has ended. The caller has
   * already checked that the user may read this task.
   */
  async *read(task: TaskRecord, req: LogReadRequest, signal: AbortSignal): AsyncGenerator<LogEvent> {
    if (task.logsPurgedAt) {
      yield { kind: 'outcome', task };
      return;
    }
    const streams = req.streams.length > 0 ? req.streams : undefined;
    const shared = this.shared.get(task.taskId) ?? { readers: 0, pages: new Map() };
    this.shared.set(task.taskId, shared);
    shared.readers++;
    try {
      yield* this.readFrom(task, req, streams, shared, signal);
    } finally {
      if (--shared.readers === 0) this.shared.delete(task.taskId);
    }
  }

  private async *readFrom(
    task: TaskRecord,
    req: LogReadRequest,
    streams: LogStreamName[] | undefined,
    shared: SharedPages,
    signal: AbortSignal,
  ): AsyncGenerator<LogEvent> {
    let after = req.afterPosition;
    if (req.tailLines > 0 && after === 0) {
      // A log shorter than the tail is read from its beginning (after = 0).
      const start = await this.tailStart(task.taskId, req.tailLines, streams, req.since);
      if (start) {
        after = logPosition(start);
        if (start.data.byteLength > 0) yield { kind: 'entry', chunk: start, position: after };
      }
    }
    for (;;) {
      // Status before chunks: a worker stores its last batch before it
      // completes the task, so a terminal status means everything is readable.
      const current = await this.store.getTask(task.taskId);
      if (!current) throw notFound(`task ${task.taskId} not found`);
      let page: LogChunkRecord[] = [];
      let limit: number;
      // Once the task has ended, the rest is read from the store itself: a
      // page shared from before the last batch (stored by another master)
      // would end this stream without it.
      const share = isTerminal(current.status) ? undefined : shared;
      do {
        limit = nextPageSize(page);
        page = await this.sharedPage(task.taskId, { afterPosition: after, streams, since: req.since, limit }, share);
        for (const chunk of page) {
          after = logPosition(chunk);
          yield { kind: 'entry', chunk, position: after };
        }
      } while (page.length === limit);
      if (isTerminal(current.status) || !req.follow || current.logsPurgedAt) {
        yield { kind: 'outcome', task: current };
        return;
      }
      await this.waitForNews(task.taskId, signal);
      if (signal.aborted || this.closing.signal.aborted) return;
    }
  }

  /** readLogChunks, answered from `pages` when another reader of the log just read the same page. */
  private async sharedPage(
    taskId: string,
    query: { afterPosition: number; streams: LogStreamName[] | undefined; since: Date | undefined; limit: number },
    shared: SharedPages | undefined,
  ): Promise<LogChunkRecord[]> {
    // A lone reader keeps nothing for others.
    if (!shared || shared.readers < 2) return this.store.readLogChunks(taskId, query);
    const { pages } = shared;
    const key = JSON.stringify([query.afterPosition, query.streams ?? [], query.since?.getTime() ?? null, query.limit]);
    const now = performance.now();
    const hit = pages.get(key);
    if (hit && hit.until > now) return hit.page;
    const page = await this.store.readLogChunks(taskId, query);
    pages.delete(key);
    const full = page.length === query.limit;
    pages.set(key, { page, until: now + (full ? SHARED_FULL_PAGE_MS : SHARED_SHORT_PAGE_MS), full });
    for (const [k, p] of pages) if (pages.size > SHARED_PAGES || p.until <= now) pages.delete(k);
    return page;
  }

  /** The chunk where the last `lines` lines start, cut to start there; undefined when the log is shorter. */
  private async tailStart(
    taskId: string,
    lines: number,
    streams: LogStreamName[] | undefined,
    since: Date | undefined,
  ): Promise<LogChunkRecord | undefined> {
    let before: number | undefined;
    let newlines = 0;
    let first = true;
    for (;;) {
      const page = await this.store.readLogChunksBackward(taskId, { beforePosition: before, streams, since, limit: PAGE });
      for (const chunk of page) {
        const data = chunk.data;
        let end = data.byteLength;
        // A log ending in a newline does not start an empty last line.
        if (first && end > 0) {
          first = false;
          if (data[end - 1] === 0x0a) end--;
        }
        for (let i = end - 1; i >= 0; i--) {
          if (data[i] === 0x0a && ++newlines === lines) {
            return { ...chunk, data: data.subarray(i + 1) };
          }
        }
        before = logPosition(chunk);
      }
      if (page.length < PAGE) return undefined;
    }
  }

  private waitForNews(taskId: string, signal: AbortSignal): Promise<void> {
    return this.events.waitForTask(taskId, AbortSignal.any([signal, this.closing.signal, AbortSignal.timeout(FOLLOW_RECHECK_MS)]));
  }

  /** Removes the logs of tasks that ended before `before`; returns how many tasks. */
  async purgeFinishedBefore(before: Date): Promise<number> {
    let purged = 0;
    for (;;) {
      const tasks = await this.store.listTasks({ finishedBefore: before, logsPurged: false, limit: 200 });
      if (tasks.length === 0) return purged;
      for (const t of tasks) {
        const chunks = await this.store.deleteLogChunks(t.taskId);
        await this.store.updateTask(t.taskId, {}, { logsPurgedAt: new Date() });
        this.log.info({ taskId: t.taskId, chunks }, 'log removed by retention');
        purged++;
      }
    }
  }
}

/** A log's readers under way, and the pages they read lately. */
interface SharedPages {
  readers: number;
  pages: Map<string, SharedPage>;
}

/** What a shared page holds; a full one holds chunks between two positions, which never change. */
interface SharedPage {
  page: LogChunkRecord[];
  until: number;
  full: boolean;
}

/** A page that reached the log's end then may miss chunks appended since. */
function forgetShortPages(shared: SharedPages | undefined): void {
  for (const [key, p] of shared?.pages ?? []) if (!p.full) shared?.pages.delete(key);
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
