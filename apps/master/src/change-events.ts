import { type EventKind, type TaskStatus, type TaskTransition } from '@cloudai/domain';
import type { TaskRecord } from '@cloudai/store';
import type { NewEvent } from './event-sink.js';
import type { Change, WorkerChangeKind } from './events.js';

/** What a completed task's status is recorded as. */
const ENDED_KIND: Partial<Record<TaskStatus, EventKind>> = {
  SUCCEEDED: 'task.succeeded',
  FAILED: 'task.failed',
  TIMED_OUT: 'task.timed_out',
  CANCELLED: 'task.cancelled',
};

const WORKER_KIND: Record<WorkerChangeKind, EventKind> = {
  registered: 'worker.registered',
  lost: 'worker.lost',
  drained: 'worker.drained',
  resumed: 'worker.resumed',
  repaired: 'worker.repaired',
};

const WORKER_MESSAGE: Record<WorkerChangeKind, string> = {
  registered: 'registered',
  lost: 'lost',
  drained: 'drained: no new tasks',
  resumed: 'resumed: takes new tasks again',
  repaired: 'free capacity reset to what its tasks leave',
};

/**
 * The events a change on the master's change channel is stored as: one per
 * task move (with the reason and attempt the task was left with) and per
 * worker change; stored log chunks are not events.
 */
export function eventsOfChange(change: Change): NewEvent[] {
  switch (change.kind) {
    case 'logs':
      return [];
    case 'worker':
      return [
        {
          kind: WORKER_KIND[change.what],
          workerId: change.workerId,
          message: `worker ${change.workerId} ${WORKER_MESSAGE[change.what]}`,
          reason: change.reason ?? '',
        },
      ];
    case 'task': {
      const task = change.task;
      const workerId = task.workerId ?? change.endedWorkerId ?? null;
      const { kind, message, explained } = describeMove(change.transition, task, workerId);
      return [
        {
          kind,
          taskId: task.taskId,
          workerId,
          userId: task.userId,
          // Submitting is the owner's act; every later move is the system's (a cancel names its canceller in the reason).
          actor: change.transition === undefined ? task.userId : null,
          attempt: task.attempt,
          message,
          reason: explained ? '' : task.reason,
        },
      ];
    }
  }
}

/**
 * The event a move is recorded as. `explained`: the message says all the
 * task's reason would ("placed on w1" for a placement), so the event keeps
 * no reason; the others record why (a retry, a failure, a cancel).
 */
function describeMove(
  transition: TaskTransition | undefined,
  task: TaskRecord,
  workerId: string | null,
): { kind: EventKind; message: string; explained?: true } {
  const on = workerId ? ` on ${workerId}` : '';
  switch (transition) {
    case undefined:
      return { kind: 'task.queued', message: `queued (${task.image})`, explained: true };
    case 'place':
      return { kind: 'task.scheduled', message: `scheduled${on} (attempt ${task.attempt})`, explained: true };
    case 'start':
      return { kind: 'task.started', message: `started${on}`, explained: true };
    case 'upload':
      return { kind: 'task.uploading', message: task.reason || 'uploading outputs', explained: true };
    case 'retry':
      return { kind: 'task.retried', message: `taken back${workerId ? ` from ${workerId}` : ''}; queued for another attempt` };
    case 'undeliver':
      return { kind: 'task.undelivered', message: `the assignment never reached ${workerId ?? 'its worker'}; queued again` };
    case 'giveUp':
    case 'complete':
    case 'cancel':
      return { kind: ENDED_KIND[task.status] ?? 'task.failed', message: endedMessage(task) };
  }
}

/** "succeeded (exit 0)", "failed (exit 3)", "timed out", "cancelled"; the reason says why. */
function endedMessage(task: TaskRecord): string {
  const exit = task.exitCode === null ? '' : ` (exit ${task.exitCode})`;
  switch (task.status) {
    case 'SUCCEEDED':
      return `succeeded${exit}`;
    case 'TIMED_OUT':
      return `timed out${exit}`;
    case 'CANCELLED':
      return 'cancelled';
    default:
      return `failed${exit}`;
  }
}
