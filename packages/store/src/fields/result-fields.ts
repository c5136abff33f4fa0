import type { TaskStatus } from '@cloudai/domain';
import { date, int, nullable, text, textOf } from './codecs.js';
import { field } from './field.js';

/** RESULTS: the accepted outcome of a task, written once. Adding a field: as for TASK_FIELDS. */
export const RESULT_FIELDS = {
  taskId: field('task_id', text),
  workerId: field('worker_id', text),
  status: field('status', textOf<TaskStatus>()),
  exitCode: field('exit_code', nullable(int)),
  completedAt: field('completed_at', date),
  logBytes: field('log_bytes', int),
};
