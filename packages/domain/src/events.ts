/**
 * Every kind of stored event (see DESIGN.md "Observability"): a task's
 * transitions and its worker's progress, worker changes, and what users and
 * admins did. Clients show kinds they do not know as they are.
 */
export const EVENT_KINDS = [
  'task.queued',
  'task.scheduled',
  'task.pulling_image',
  'task.started',
  'task.uploading',
  'task.outputs_stored',
  'task.succeeded',
  'task.failed',
  'task.timed_out',
  'task.cancelled',
  /** taken back from its worker for another attempt */
  'task.retried',
  /** its assignment never reached the worker: queued again without using up an attempt */
  'task.undelivered',
  'task.cancelled_by_admin',
  'files.deleted',
  'files.deleted_by_admin',
  'worker.registered',
  'worker.lost',
  'worker.drained',
  'worker.resumed',
  /** free capacity that no task explained was reset */
  'worker.repaired',
  'user.created',
  'user.disabled',
  'user.enabled',
  'token.created',
  'token.revoked',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** The kinds after which a task changes no more. */
export const TASK_END_EVENT_KINDS = [
  'task.succeeded',
  'task.failed',
  'task.timed_out',
  'task.cancelled',
] as const satisfies readonly EventKind[];

/** An event's message and reason are cut to these lengths: events are bounded in size. */
export const MAX_EVENT_MESSAGE_LENGTH = 300;
export const MAX_EVENT_REASON_LENGTH = 1000;
