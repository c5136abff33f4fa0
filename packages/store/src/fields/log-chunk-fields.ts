import type { LogStreamName } from '@cloudai/domain';
import { bool, bytes, date, int, text, textOf } from './codecs.js';
import { field } from './field.js';

/**
 * LOG_CHUNKS: an ordered piece of a task's output. Unique on
 * (taskId, assignmentId, seq), so a resent batch is stored once.
 * Adding a field: as for TASK_FIELDS.
 */
export const LOG_CHUNK_FIELDS = {
  taskId: field('task_id', text),
  assignmentId: field('assignment_id', text),
  /**
   * The task's attempt when the assignment was made. Each attempt must have
   * one assignment: two assignments sharing an attempt would share positions.
   */
  attempt: field('attempt', int),
  /** per assignment, from 0 */
  seq: field('seq', int),
  stream: field('stream', textOf<LogStreamName>()),
  ts: field('ts', date),
  data: field('data', bytes),
  /** written by cloudai (e.g. a truncation marker), not by the task */
  marker: field('marker', bool),
};
