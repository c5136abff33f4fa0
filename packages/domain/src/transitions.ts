import { ACTIVE_STATUSES, CANCELLABLE_STATUSES, type TaskStatus } from './status.js';

/**
 * Every move a task can make, named by what causes it; see DESIGN.md "Task
 * lifecycle". The master changes a task's status only through these: each is
 * one conditional update "set `to` where status is one of `from` (and the
 * assignment is the caller's)", so two callers racing cannot both win.
 */
export const TASK_TRANSITIONS = {
  /** the master re-checked a scheduler's placement and reserved the worker's resources */
  place: { from: ['QUEUED'], to: ['SCHEDULED'] },
  /** the worker started the container */
  start: { from: ['SCHEDULED'], to: ['RUNNING'] },
  /** the container ended and the worker is uploading its outputs */
  upload: { from: ['SCHEDULED', 'RUNNING'], to: ['UPLOADING'] },
  /** the worker's final report */
  complete: { from: ACTIVE_STATUSES, to: ['SUCCEEDED', 'FAILED', 'TIMED_OUT'] },
  /** taken back from its worker (lost, restarted, refused the task) for another attempt */
  retry: { from: ACTIVE_STATUSES, to: ['QUEUED'] },
  /** its assignment never reached the worker: queued again without using up an attempt */
  undeliver: { from: ['SCHEDULED'], to: ['QUEUED'] },
  /** taken back from its worker with no attempts left, or refused for good */
  giveUp: { from: ACTIVE_STATUSES, to: ['FAILED'] },
  /** a user cancelled it */
  cancel: { from: CANCELLABLE_STATUSES, to: ['CANCELLED'] },
} as const satisfies Record<string, { from: readonly TaskStatus[]; to: readonly TaskStatus[] }>;

export type TaskTransition = keyof typeof TASK_TRANSITIONS;

/** The statuses a transition may lead to. */
export type TransitionTarget<T extends TaskTransition> = (typeof TASK_TRANSITIONS)[T]['to'][number];

/** Whether some transition moves a task from `from` to `to`. */
export function canMove(from: TaskStatus, to: TaskStatus): boolean {
  return Object.values(TASK_TRANSITIONS).some(
    (t) => (t.from as readonly TaskStatus[]).includes(from) && (t.to as readonly TaskStatus[]).includes(to),
  );
}
