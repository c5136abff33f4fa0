import { date, int, nullable, text } from './codecs.js';
import { field } from './field.js';

/** ASSIGNMENTS. Adding a field: as for TASK_FIELDS. */
export const ASSIGNMENT_FIELDS = {
  assignmentId: field('assignment_id', text),
  taskId: field('task_id', text),
  workerId: field('worker_id', text),
  attempt: field('attempt', int),
  createdAt: field('created_at', date),
  /** null while current; then the status it ended with or why it was superseded */
  outcome: field('outcome', nullable(text)),
};
