import { newAssignmentId, reportedText, toUnits } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { ClientError, clientErrorKind } from '@cloudai/rpc';
import type { Store, TaskRecord, WorkerRecord } from '@cloudai/store';
import type { AssignmentDispatcher, Delivery } from './assignment-dispatch.js';
import type { MasterEvents } from './events.js';
import type { TaskLifecycle } from './task-lifecycle.js';
import type { TaskManager } from './task-manager.js';
import { taskToAssignment } from './to-proto.js';

/** A scheduler's note on a waiting task is kept (see reportedText), cut to this. */
const MAX_UNPLACED_REASON_CHARS = 500;

export interface PlacementOutcome {
  taskId: string;
  committed: boolean;
  assignmentId: string;
  reason: string;
}

/**
 * The master's side of scheduling: the snapshot schedulers plan on, and the
 * re-validation of each placement they commit, which reserves the worker's
 * resources, records the assignment and hands it to the dispatcher.
 */
export class Placement {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: TaskLifecycle,
    private readonly tasks: TaskManager,
    private readonly dispatcher: AssignmentDispatcher,
    private readonly events: MasterEvents,
    private readonly log: Logger,
  ) {}

  /** Queued tasks (oldest first) and the workers accepting tasks now. */
  async snapshot(maxTasks: number): Promise<{ tasks: TaskRecord[]; workers: WorkerRecord[]; generation: number }> {
    const generation = this.events.generation;
    const [tasks, workers] = await Promise.all([this.store.listQueuedTasks(maxTasks), this.store.listWorkers(['ALIVE'])]);
    return { tasks, workers: workers.filter((w) => this.dispatcher.isReachable(w.address)), generation };
  }

  /** Records why a task is still waiting, unless it moved on meanwhile. */
  async noteUnplaced(taskId: string, reason: string): Promise<void> {
    const text = reportedText(reason, MAX_UNPLACED_REASON_CHARS);
    const task = await this.store.getTask(taskId);
    // Schedulers repeat the same reason every round; write only news.
    if (task?.status !== 'QUEUED' || task.reason === text) return;
    await this.store.updateTask(taskId, { statuses: ['QUEUED'] }, { reason: text });
  }

  /**
   * Re-validates one placement against current state, reserves the worker's
   * resources, and moves the task to SCHEDULED. The assignment is sent to
   * the worker in the background.
   */
  async place(taskId: string, workerId: string): Promise<PlacementOutcome> {
    const skip = (reason: string): PlacementOutcome => ({ taskId, committed: false, assignmentId: '', reason });
    const task = await this.store.getTask(taskId);
    if (!task) return skip('task not found');
    if (task.status !== 'QUEUED') return skip(`task is ${task.status}, not QUEUED`);
    if (task.pinnedWorkerId && task.pinnedWorkerId !== workerId) {
      return skip(`task is pinned to worker ${task.pinnedWorkerId}`);
    }
    const worker = await this.store.getWorker(workerId);
    if (!worker || worker.state !== 'ALIVE') return skip(`worker ${workerId} is not accepting tasks`);
    if (!this.dispatcher.isReachable(worker.address)) return skip(`worker ${workerId} does not answer the master`);
    const units = toUnits(task.resources);
    if (!(await this.store.reserveOnWorker(workerId, units))) {
      return skip(`worker ${workerId} no longer has room`);
    }
    const assignmentId = newAssignmentId();
    const now = new Date();
    const scheduled = await this.lifecycle.move(
      'place',
      task,
      {
        status: 'SCHEDULED',
        reason: `placed on ${workerId}`,
        assignmentId,
        workerId,
        attempt: task.attempt + 1,
        scheduledAt: now,
        startedAt: null,
        uploadingAt: null,
        exitCode: null,
      },
      { assignmentId: null },
    );
    if (!scheduled) {
      await this.store.releaseOnWorker(workerId, units);
      return skip('task changed while being placed');
    }
    await this.store.createAssignment({
      assignmentId,
      taskId,
      workerId,
      attempt: scheduled.attempt,
      createdAt: now,
      outcome: null,
    });
    this.log.info({ taskId, workerId, assignmentId, attempt: scheduled.attempt }, 'task scheduled');
    this.dispatcher.send(worker.address, taskToAssignment(scheduled), (delivery) =>
      this.delivered(scheduled, worker, delivery),
    );
    return { taskId, committed: true, assignmentId, reason: '' };
  }

  /** What a failed delivery means for the task. */
  private async delivered(task: TaskRecord, worker: WorkerRecord, delivery: Delivery): Promise<void> {
    if (delivery.kind === 'delivered' || delivery.kind === 'dropped') return;
    const detail = delivery.error instanceof ClientError ? delivery.error.details : (delivery.error as Error).message;
    if (delivery.kind === 'undelivered') {
      await this.tasks.undeliver(task, `worker ${worker.workerId} did not answer the assignment (${detail})`);
      return;
    }
    // A refusal about the task itself (bad request, network not allowed)
    // would repeat on any worker; anything else is the worker's problem.
    const kind = clientErrorKind(delivery.error);
    const refused = kind === 'invalid' || kind === 'failed-precondition';
    const why = `worker ${worker.workerId} ${refused ? 'refused' : 'did not accept'} the task: ${detail}`;
    this.log.warn({ err: delivery.error, taskId: task.taskId, workerId: worker.workerId, refused }, why);
    await this.tasks.requeue(task, why, { retry: !refused });
  }
}
