import type { LogStreamName } from '@cloudai/domain';
import type { RequestContext } from './context.js';
import { LineSplitter, type SplitState } from '@cloudai/domain/log-lines';
import { scanLogLines, StopScan } from './log-scan.js';

/** A place to start reading a finished log from: a chunk boundary, and how the split stood there. */
interface Checkpoint {
  afterPosition: number;
  state: SplitState;
}

/** Where every ~CHECKPOINT_LINES-th line of a finished task's log starts. */
interface LineIndex {
  logBytes: number;
  totalLines: number;
  /** in log order; the first is the log's start */
  checkpoints: Checkpoint[];
}

/** Lines between two checkpoints: a page read scans at most this many lines before its first. */
const CHECKPOINT_LINES = 2000;
/** Finished tasks whose index is kept; the least recently read goes first. */
const MAX_INDEXED_TASKS = 32;

/**
 * The line indexes of recently read finished logs, bounded: a finished log
 * no longer changes, so its index stays right (keyed with its size, so a log
 * removed by retention is indexed again).
 */
export class LineIndexCache {
  private readonly byTask = new Map<string, LineIndex>();
  /** indexes being counted, by task and log size: a second reader waits for the same count */
  private readonly loading = new Map<string, Promise<LineIndex>>();

  /** The index of a finished log: cached, being counted, or counted now by `build`. */
  load(taskId: string, logBytes: number, build: () => Promise<LineIndex>): Promise<LineIndex> {
    const cached = this.get(taskId, logBytes);
    if (cached) return Promise.resolve(cached);
    const key = `${taskId}:${logBytes}`;
    let loading = this.loading.get(key);
    if (!loading) {
      loading = build()
        .then((index) => {
          this.set(taskId, index);
          return index;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  get(taskId: string, logBytes: number): LineIndex | undefined {
    const index = this.byTask.get(taskId);
    if (!index || index.logBytes !== logBytes) return undefined;
    this.byTask.delete(taskId);
    this.byTask.set(taskId, index);
    return index;
  }

  set(taskId: string, index: LineIndex): void {
    this.byTask.delete(taskId);
    while (this.byTask.size >= MAX_INDEXED_TASKS) this.byTask.delete(this.byTask.keys().next().value!);
    this.byTask.set(taskId, index);
  }
}

/** The process's one cache: every request reads its lines from the master as its caller; only positions are shared. */
export const lineIndexCache = new LineIndexCache();

export interface LogLine {
  line: number;
  stream: LogStreamName;
  text: string;
}

export interface LinePage {
  lines: LogLine[];
  totalLines: number;
  /** the log is finished: totalLines is final */
  complete: boolean;
  /**
   * A running task's log: where to follow it from so that nothing read here
   * comes again (`logs?follow=true&last_event_id=<afterPosition>`). Lines
   * up to `lines` are finished; `pending` is each stream's unfinished line,
   * which the follow continues (a page shows it as a line of its own).
   */
  follow?: { afterPosition: number; lines: number; pending: Record<LogStreamName, string> };
}

export interface PageRequest {
  taskId: string;
  finished: boolean;
  logBytes: number;
  /** the first line (1-based), or < 0 to count from the end: -200 is the last 200 lines */
  start: number;
  count: number;
}

/** One page of a task's log lines, reading from the nearest checkpoint of a finished log. */
export async function readLinePage(ctx: RequestContext, cache: LineIndexCache, request: PageRequest): Promise<LinePage> {
  if (!request.finished) return readRunningPage(ctx, request);
  const index = await cache.load(request.taskId, request.logBytes, () => buildIndex(ctx, request.taskId, request.logBytes, 'detached'));
  const total = index.totalLines;
  const first = firstLine(request.start, total);
  const last = Math.min(total, first + request.count - 1);
  const lines: LogLine[] = [];
  if (first > last) return { lines, totalLines: total, complete: true };
  const from = nearestCheckpoint(index.checkpoints, first);
  await scanLogLines(
    ctx,
    { taskId: request.taskId, afterPosition: from.afterPosition, splitter: new LineSplitter(from.state) },
    (line, stream, bytes) => {
      if (line >= first) lines.push({ line, stream, text: bytes.toString('utf8') });
      if (line >= last) throw new StopScan();
    },
  );
  return { lines, totalLines: total, complete: true };
}

function firstLine(start: number, total: number): number {
  if (start < 0) return Math.max(1, total + start + 1);
  return Math.max(1, start);
}

/** The last checkpoint before line `first`. */
function nearestCheckpoint(checkpoints: Checkpoint[], first: number): Checkpoint {
  let lo = 0;
  let hi = checkpoints.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (checkpoints[mid]!.state.lines < first) lo = mid;
    else hi = mid - 1;
  }
  return checkpoints[lo]!;
}

/** How long counting a log's lines may take the master. */
const INDEX_DEADLINE_MS = 60_000;

/**
 * Counts a finished log's lines ahead of its first page, when its task is
 * read (the console's task page reads the task, then the log's tail): the
 * count runs while the page loads. Positions only; every page is still read
 * as its own caller.
 */
export function warmLineIndex(ctx: RequestContext, taskId: string, logBytes: number): void {
  lineIndexCache.load(taskId, logBytes, () => buildIndex(ctx, taskId, logBytes, 'detached')).catch((err: unknown) => {
    ctx.log.debug({ err, taskId }, 'line index not counted ahead');
  });
}

/**
 * The master counts the lines where the log is stored: only the index
 * crosses the wire, not the log. A shared (cached) count is detached from
 * the request that started it, so another reader waiting for it is not cut
 * off when the first one leaves.
 */
async function buildIndex(ctx: RequestContext, taskId: string, logBytes: number, as: 'request' | 'detached'): Promise<LineIndex> {
  const options = { deadline: INDEX_DEADLINE_MS };
  const call = as === 'detached' ? ctx.detachedCall(options) : ctx.call(options);
  const index = await ctx.master.tasks.getLogLineIndex({ taskId, everyLines: CHECKPOINT_LINES }, call);
  const checkpoints = index.checkpoints.map(
    (c): Checkpoint => ({
      afterPosition: c.afterPosition,
      state: { lines: c.lines, pending: { stdout: Buffer.from(c.pendingStdout), stderr: Buffer.from(c.pendingStderr) } },
    }),
  );
  if (checkpoints.length === 0) checkpoints.push({ afterPosition: 0, state: new LineSplitter().state() });
  return { logBytes, totalLines: index.totalLines, checkpoints };
}

/**
 * A running task's log still grows: its index (counted now, not kept) says
 * where to start; the read goes on to the end, keeping only the page (or the
 * last lines, for a start from the end) and where to follow from.
 */
async function readRunningPage(ctx: RequestContext, request: PageRequest): Promise<LinePage> {
  const index = await buildIndex(ctx, request.taskId, request.logBytes, 'request');
  const page: LogLine[] = [];
  // Starting from the end, only the last `keep` lines matter: a ring of them (the page is at most `count`).
  const keep = request.start < 0 ? Math.min(-request.start, request.count) : 0;
  const fromEnd = request.start < 0 ? -request.start : 0;
  const ring: LogLine[] = [];
  const first = Math.max(1, request.start);
  // The log only grows: the checkpoint before the wanted lines, as counted, is before them still.
  const from = nearestCheckpoint(index.checkpoints, firstLine(request.start, index.totalLines));
  const followFrom = (afterPosition: number, { lines, pending }: SplitState): NonNullable<LinePage['follow']> => ({
    afterPosition,
    lines,
    pending: { stdout: pending.stdout.toString('utf8'), stderr: pending.stderr.toString('utf8') },
  });
  let follow = followFrom(from.afterPosition, from.state);
  const onChunk = (position: number, splitter: LineSplitter) => {
    follow = followFrom(position, splitter.state());
  };
  const scan = { taskId: request.taskId, afterPosition: from.afterPosition, splitter: new LineSplitter(from.state), onChunk };
  const result = await scanLogLines(ctx, scan, (line, stream, bytes) => {
    if (fromEnd > 0) {
      ring[line % fromEnd] = { line, stream, text: bytes.toString('utf8') };
    } else if (line >= first && line < first + request.count) {
      page.push({ line, stream, text: bytes.toString('utf8') });
    }
  });
  if (fromEnd === 0) return { lines: page, totalLines: result.lines, complete: false, follow };
  const firstKept = Math.max(1, result.lines - fromEnd + 1);
  for (let line = firstKept; line < firstKept + keep && line <= result.lines; line++) page.push(ring[line % fromEnd]!);
  return { lines: page, totalLines: result.lines, complete: false, follow };
}
