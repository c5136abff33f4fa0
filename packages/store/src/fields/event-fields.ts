import { date, int, nullable, text } from './codecs.js';
import { field } from './field.js';

/**
 * EVENTS: what happened to tasks, workers and users, in the order it was
 * stored. Adding a field: as for TASK_FIELDS.
 */
export const EVENT_FIELDS = {
  /**
   * The event's place in the log: increasing in the order events were
   * stored and never reused, so a follower resumes after the last one it saw.
   */
  seq: field('seq', int),
  time: field('time', date),
  /** what happened, e.g. task.scheduled, worker.lost, token.revoked */
  kind: field('kind', text),
  taskId: field('task_id', nullable(text)),
  workerId: field('worker_id', nullable(text)),
  /** the task's owner for a task's events; the user an action on users or tokens concerns */
  userId: field('user_id', nullable(text)),
  /** who did it, for what a user or admin did; null when the system did */
  actor: field('actor', nullable(text)),
  /** the task's attempt when it happened (0 for events of no task) */
  attempt: field('attempt', int, { default: 0 }),
  message: field('message', text, { default: '' }),
  reason: field('reason', text, { default: '' }),
};

/**
 * COUNTERS (MongoDB only): named sequences. `events` holds the last seq
 * handed out, so sequence numbers outlive the events retention removes.
 */
export const COUNTER_FIELDS = {
  name: field('name', text),
  value: field('value', int),
};
