import {
  ACTIVE_STATUSES,
  TASK_TRANSITIONS,
  toUnits,
  type TaskStatus,
  type TaskTransition,
  type TransitionTarget,
} from '@cloudai/domain';
import type { Store, TaskPatch, TaskRecord } from '@cloudai/store';
import type { MasterEvents } from './events.js';

/** The patch of a move: the new status must be one the transition leads to. */
export type MovePatch<T extends TaskTransition> = Omit<TaskPatch, 'status'> & { status: TransitionTarget<T> };

/** What a move knows of the task before it: enough to give back what the task held. */
export type TaskBefore = Pick<TaskRecord, 'taskId' | 'assignmentId' | 'workerId'>;

/** How an ended assignment is recorded in ASSIGNMENTS when the task did not finish on it. */
const ENDED_AS: Partial<Record<TaskTransition, string>> = { retry: 'REQUEUED', undeliver: 'UNDELIVERED' };

/**
 * The one place a task's status changes. Each move is TASK_TRANSITIONS[name]
 * as one conditional update; when it takes the task off its worker, the
 * worker's resources are given back and the assignment is closed; then the
 * change is announced on the master's change channel.
 */
export class TaskLifecycle {
  constructor(
    private readonly store: Store,
    private readonly events: MasterEvents,
  ) {}

  /**
   * Applies transition `name` to the task if its status is one the
   * transition starts from and, when `assignmentId` is given (null: no
   * assignment), the task's current assignment is that one. Returns the
   * updated task, or null when the task did not match (someone else moved
   * it first).
   */
  async move<T extends TaskTransition>(
    name: T,
    task: TaskBefore,
    patch: MovePatch<T>,
    condition: { assignmentId?: string | null } = {},
  ): Promise<TaskRecord | null> {
    const transition = TASK_TRANSITIONS[name];
    if (!(transition.to as readonly TaskStatus[]).includes(patch.status)) {
      throw new RangeError(`transition ${name} cannot lead to ${patch.status}`);
    }
    const updated = await this.store.updateTask(
      task.taskId,
      { statuses: transition.from, assignmentId: condition.assignmentId },
      patch,
    );
    if (!updated) return null;
    // A move conditioned on the task's assignment ended exactly that one, even when it cleared it.
    const fenced = typeof condition.assignmentId === 'string' && condition.assignmentId === task.assignmentId;
    const ended = await this.release(name, fenced ? task : undefined, updated);
    this.events.emit({
      kind: 'task',
      taskId: task.taskId,
      status: updated.status,
      transition: name,
      task: updated,
      endedAssignmentId: ended?.assignmentId,
      endedWorkerId: ended?.workerId,
    });
    return updated;
  }

  /**
   * A task that left the active statuses gives its worker's resources back
   * and closes its assignment. A QUEUED task never has an assignment, so one
   * still on the record (cancel and complete keep it) means it was active.
   * When the move cleared it (retry, undeliver), `fenced` is the task as the
   * move's condition pinned it. Returns the ended assignment and its worker.
   */
  private async release(
    name: TaskTransition,
    fenced: TaskBefore | undefined,
    after: TaskRecord,
  ): Promise<{ assignmentId: string; workerId: string | undefined } | undefined> {
    if ((ACTIVE_STATUSES as readonly TaskStatus[]).includes(after.status)) return undefined;
    const assignmentId = after.assignmentId ?? fenced?.assignmentId;
    const workerId = after.workerId ?? fenced?.workerId ?? undefined;
    if (!assignmentId) return undefined;
    if (workerId) await this.store.releaseOnWorker(workerId, toUnits(after.resources));
    await this.store.finishAssignment(assignmentId, ENDED_AS[name] ?? after.status);
    return { assignmentId, workerId };
  }
}
