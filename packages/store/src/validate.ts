import { RESOURCE_KEYS, type ResourceUnits } from '@cloudai/domain';
import type { EventQuery, FileMetadataRecord, LogChunkRecord, NewEventRecord } from './records.js';

/**
 * Refuses units that are not non-negative safe integers: a negative
 * reservation would silently grow a worker's free capacity.
 */
export function checkUnits(units: ResourceUnits, what: string): void {
  for (const key of RESOURCE_KEYS) {
    const v = units[key];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${what}.${key} must be a non-negative integer, got ${String(v)}`);
    }
  }
}

export function checkLimit(limit: number, what: string): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`${what} must be a positive integer, got ${String(limit)}`);
  }
}

const SEQ_LIMIT = 2 ** 32;
/** Keeps logPosition() a safe integer: attempt * 2^32 + seq + 1 < 2^53. */
const ATTEMPT_LIMIT = 2 ** 20;

/**
 * Refuses a chunk whose position could not be encoded by logPosition()
 * (a seq of 2^32 would collide with the next attempt's first chunk).
 */
export function checkLogChunk(c: LogChunkRecord): void {
  if (!Number.isSafeInteger(c.attempt) || c.attempt < 0 || c.attempt >= ATTEMPT_LIMIT) {
    throw new RangeError(`log chunk attempt must be an integer in [0, ${ATTEMPT_LIMIT}), got ${String(c.attempt)}`);
  }
  if (!Number.isSafeInteger(c.seq) || c.seq < 0 || c.seq >= SEQ_LIMIT) {
    throw new RangeError(`log chunk seq must be an integer in [0, 2^32), got ${String(c.seq)}`);
  }
  if (c.stream !== 'stdout' && c.stream !== 'stderr') {
    throw new RangeError(`log chunk stream must be "stdout" or "stderr", got ${String(c.stream)}`);
  }
  if (!(c.data instanceof Uint8Array)) throw new RangeError('log chunk data must be a Uint8Array');
}

/**
 * The (attempt, seq) pair a position bound compares against: logPosition(c) > p
 * exactly when (c.attempt, c.seq) > bound, and likewise for <. Position 0
 * ("before everything") gives attempt -1, so every chunk is after it.
 * Comparing the pair instead of the computed position lets both stores use
 * their (task_id, attempt, seq) index.
 */
export function positionBound(position: number, what: string): { attempt: number; seq: number } {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(position)}`);
  }
  const attempt = Math.floor((position - 1) / SEQ_LIMIT);
  return { attempt, seq: position - 1 - attempt * SEQ_LIMIT };
}

export function checkByteCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(n)}`);
  }
}

/**
 * Every record must belong to the task being replaced (a stray one would be
 * written under another task), and paths must be unique. Checked before
 * anything is deleted: the Mongo adapter cannot roll a failed insert back.
 */
export function checkFilesOfTask(taskId: string, files: readonly FileMetadataRecord[]): void {
  const paths = new Set<string>();
  for (const f of files) {
    if (f.taskId !== taskId) {
      throw new RangeError(`replaceFileMetadata(${taskId}): file ${f.filePath} belongs to task ${f.taskId}`);
    }
    if (paths.has(f.filePath)) {
      throw new RangeError(`replaceFileMetadata(${taskId}): filePath ${f.filePath} appears twice`);
    }
    paths.add(f.filePath);
  }
}

export function checkEventQuery(query: EventQuery): void {
  checkLimit(query.limit, 'listEvents limit');
  const after = query.afterSeq ?? 0;
  if (!Number.isSafeInteger(after) || after < 0) {
    throw new RangeError(`listEvents afterSeq must be a non-negative integer, got ${String(after)}`);
  }
  const through = query.throughSeq ?? 0;
  if (!Number.isSafeInteger(through) || through < 0) {
    throw new RangeError(`listEvents throughSeq must be a non-negative integer, got ${String(through)}`);
  }
}

export function checkNewEvent(e: NewEventRecord): void {
  if (!e.kind) throw new RangeError('event kind must not be empty');
  if (!Number.isSafeInteger(e.attempt) || e.attempt < 0) {
    throw new RangeError(`event attempt must be a non-negative integer, got ${String(e.attempt)}`);
  }
}
