import { isTerminal } from '@cloudai/domain';
import { LineSplitter } from '@cloudai/domain/log-lines';
import { logPosition, type Store, type TaskRecord } from '@cloudai/store';

/** Lines between checkpoints unless the caller asks otherwise. */
export const DEFAULT_INDEX_EVERY_LINES = 2000;
/** Checkpoints in one answer at most: past it, every other one goes and the spacing doubles. */
const MAX_CHECKPOINTS = 2000;
/**
 * A checkpoint carries the streams' unfinished lines; one that would carry
 * more waits for a later chunk boundary. With MAX_CHECKPOINTS this bounds an
 * answer near 2 MiB, under any client's message limit.
 */
const MAX_CHECKPOINT_PENDING_BYTES = 1024;
/** Chunks read from the store at a time (at most 8 MiB of full chunks). */
const PAGE_CHUNKS = 32;

export interface LineCheckpoint {
  afterPosition: number;
  lines: number;
  pending: { stdout: Buffer; stderr: Buffer };
}

export interface LogLineIndex {
  totalLines: number;
  logBytes: number;
  /** the task had ended when the count began */
  complete: boolean;
  checkpoints: LineCheckpoint[];
}

/**
 * Counts a task's stored log lines where they are stored, one page of chunks
 * at a time, noting where every `everyLines`-th line (or so) starts. A reader
 * opens any line by streaming from the checkpoint before it, instead of
 * moving the whole log to count it.
 */
export async function indexLogLines(store: Store, task: TaskRecord, everyLines: number): Promise<LogLineIndex> {
  // Status before chunks (as TaskLogs.read): an ended task's log is all stored.
  const current = (await store.getTask(task.taskId)) ?? task;
  const complete = isTerminal(current.status);
  const splitter = new LineSplitter();
  const checkpoints: LineCheckpoint[] = [{ afterPosition: 0, lines: 0, pending: { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) } }];
  if (current.logsPurgedAt) return { totalLines: 0, logBytes: 0, complete, checkpoints };
  let every = everyLines;
  let after = 0;
  let logBytes = 0;
  for (;;) {
    const page = await store.readLogChunks(task.taskId, { afterPosition: after, limit: PAGE_CHUNKS });
    for (const chunk of page) {
      after = logPosition(chunk);
      logBytes += chunk.data.byteLength;
      // cloudai's own markers are not the task's lines.
      if (chunk.marker) continue;
      splitter.push(chunk.stream, chunk.data);
      if (splitter.count - checkpoints.at(-1)!.lines < every) continue;
      if (splitter.pendingBytes > MAX_CHECKPOINT_PENDING_BYTES) continue;
      const { lines, pending } = splitter.state();
      checkpoints.push({ afterPosition: after, lines, pending });
      if (checkpoints.length > MAX_CHECKPOINTS) {
        every *= 2;
        const kept = checkpoints.filter((_, i) => i % 2 === 0);
        checkpoints.splice(0, checkpoints.length, ...kept);
      }
    }
    if (page.length < PAGE_CHUNKS) break;
  }
  splitter.end();
  return { totalLines: splitter.count, logBytes, complete, checkpoints };
}
