/** Lifecycle of a task; see DESIGN.md "Task lifecycle". */
export const TASK_STATUSES = [
  'QUEUED',
  'SCHEDULED',
  'RUNNING',
  'UPLOADING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'TIMED_OUT',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses in which a task holds resources on a worker. */
export const ACTIVE_STATUSES = ['SCHEDULED', 'RUNNING', 'UPLOADING'] as const satisfies readonly TaskStatus[];
/** Statuses a task never leaves. */
export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const satisfies readonly TaskStatus[];
/** Statuses from which a user may cancel. */
export const CANCELLABLE_STATUSES = ['QUEUED', 'SCHEDULED', 'RUNNING', 'UPLOADING'] as const satisfies readonly TaskStatus[];

export function isTerminal(status: TaskStatus): boolean {
  return (TERMINAL_STATUSES as readonly TaskStatus[]).includes(status);
}


export const WORKER_STATES = ['ALIVE', 'DRAINING', 'LOST'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];
