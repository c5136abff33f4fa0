import {
  ACTIVE_STATUSES,
  CANCELLABLE_STATUSES,
  DEFAULT_RESOURCES,
  defaultTaskName,
  isTerminal,
  newAssignmentId,
  newTaskId,
  toUnits,
  validateTaskSpec,
  type Resources,
  type TaskSpec,
  type TaskStatus,
} from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { ClientError, failedPrecondition, invalidArgument, notFound, Status } from '@cloudai/rpc';
import {
  newTaskRecord,
  type OutputFileRecord,
  type Store,
  type TaskFilter,
  type TaskRecord,
  type WorkerRecord,
} from '@cloudai/store';
import type { ClusterEvents } from './events.js';
import { taskToAssignment } from './to-proto.js';
import type { WorkerLink } from './worker-link.js';

/** A spec as it arrives, before defaults and validation. */
export interface SpecInput {
  image: string;
  command: string[];
  env: Record<string, string>;
  resources: Partial<Resources>;
  taskName: string;
  timeoutSeconds: number;
  network: boolean;
}

export interface PlacementOutcome {
  taskId: string;
  committed: boolean;
  assignmentId: string;
  reason: string;
}

export interface Completion {
  taskId: string;
  assignmentId: string;
  status: Extract<TaskStatus, 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT'>;
  exitCode: number | null;
  reason: string;
  outputFiles: OutputFileRecord[];
  outputBytes: number;
}

export interface TaskManagerOptions {
  maxAttempts: number;
  /** called after every status change of a task (log followers wait on it) */
  onTaskChanged?: (taskId: string) => void;
}

/**
 * The task state machine. Every transition is one conditional update in
 * the store, conditioned on the current status and assignment (the fencing
 * token), so concurrent callers and stale workers cannot both win.
 */
export class TaskManager {
  constructor(
    private readonly store: Store,
    private readonly events: ClusterEvents,
    private readonly workers: WorkerLink,
    private readonly log: Logger,
    private readonly options: TaskManagerOptions,
  ) {}

  async submit(
    userId: string,
    input: SpecInput,
    opts: { idempotencyKey?: string; pinnedWorkerId?: string },
  ): Promise<{ task: TaskRecord; created: boolean }> {
    const spec = this.validate(input);
    if (opts.idempotencyKey !== undefined && opts.idempotencyKey.length > 128) {
      throw invalidArgument('idempotency_key must be at most 128 characters');
    }
    if (opts.pinnedWorkerId !== undefined) {
      const worker = await this.store.getWorker(opts.pinnedWorkerId);
      if (!worker || worker.state === 'LOST') {
        throw notFound(`worker ${JSON.stringify(opts.pinnedWorkerId)} is not registered (see cloudai workers)`);
      }
    }
    const now = new Date();
    const taskId = newTaskId();
    const record = newTaskRecord({
      taskId,
      taskName: spec.taskName || defaultTaskName(spec.image, now),
      userId,
      image: spec.image,
      command: spec.command,
      env: spec.env,
      resources: spec.resources,
      timeoutSeconds: spec.timeoutSeconds,
      network: spec.network,
      reason: 'waiting for the scheduler',
      pinnedWorkerId: opts.pinnedWorkerId ?? null,
      submittedAt: now,
      idempotencyKey: opts.idempotencyKey ? `${userId}:${opts.idempotencyKey}` : taskId,
    });
    const result = await this.store.createTask(record);
    if (result.created) {
      this.events.changed();
      this.log.info({ taskId, taskName: record.taskName, userId, image: record.image }, 'task queued');
    }
    return result;
  }

  private validate(input: SpecInput): TaskSpec {
    const resources = { ...DEFAULT_RESOURCES, ...input.resources };
    const checked = validateTaskSpec({ ...input, resources });
    if (!checked.ok) throw invalidArgument(checked.message);
    return checked.spec;
  }

  /** A task the user may see; NOT_FOUND otherwise (never reveals others' ids). */
  async get(userId: string | undefined, taskId: string): Promise<TaskRecord> {
    if (!taskId) throw invalidArgument('task_id is required');
    const task = await this.store.getTask(taskId);
    if (!task || (userId !== undefined && task.userId !== userId)) throw notFound(`task ${taskId} not found`);
    return task;
  }

  list(filter: TaskFilter): Promise<TaskRecord[]> {
    return this.store.listTasks(filter);
  }

  async cancel(userId: string, taskId: string, reason: string): Promise<TaskRecord> {
    const task = await this.get(userId, taskId);
    if (isTerminal(task.status)) {
      throw failedPrecondition(`task ${taskId} already ended: ${task.status}`);
    }
    const why = reason || `cancelled by ${userId}`;
    const updated = await this.store.updateTask(
      taskId,
      { statuses: CANCELLABLE_STATUSES },
      { status: 'CANCELLED', reason: why, finishedAt: new Date() },
    );
    if (!updated) {
      const now = await this.get(userId, taskId);
      throw failedPrecondition(`task ${taskId} already ended: ${now.status}`);
    }
    this.log.info({ taskId, previous: task.status }, 'task cancelled');
    this.options.onTaskChanged?.(taskId);
    if (updated.assignmentId && updated.workerId) {
      await this.releaseAssignment(updated, 'CANCELLED');
      const worker = await this.store.getWorker(updated.workerId);
      if (worker) void this.workers.cancel(worker.address, taskId, updated.assignmentId, why);
    }
    return updated;
  }

  /** Snapshot for schedulers: queued tasks (oldest first) and workers accepting tasks. */
  async snapshot(maxTasks: number): Promise<{ tasks: TaskRecord[]; workers: WorkerRecord[]; generation: number }> {
    const generation = this.events.generation;
    const [tasks, workers] = await Promise.all([
      this.store.listQueuedTasks(maxTasks),
      this.store.listWorkers(['ALIVE']),
    ]);
    return { tasks, workers, generation };
  }

  /** Records why a task is still waiting, unless it moved on meanwhile. */
  async noteUnplaced(taskId: string, reason: string): Promise<void> {
    const text = reason.slice(0, 500);
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
    const units = toUnits(task.resources);
    if (!(await this.store.reserveOnWorker(workerId, units))) {
      return skip(`worker ${workerId} no longer has room`);
    }
    const assignmentId = newAssignmentId();
    const now = new Date();
    const scheduled = await this.store.updateTask(
      taskId,
      { statuses: ['QUEUED'], assignmentId: null },
      {
        status: 'SCHEDULED',
        reason: `placed on ${workerId}`,
        assignmentId,
        workerId,
        attempt: task.attempt + 1,
        scheduledAt: now,
        startedAt: null,
        exitCode: null,
      },
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
    void this.sendAssignment(scheduled, worker);
    return { taskId, committed: true, assignmentId, reason: '' };
  }

  private async sendAssignment(task: TaskRecord, worker: WorkerRecord): Promise<void> {
    try {
      await this.workers.assign(worker.address, taskToAssignment(task));
    } catch (err) {
      // A refusal about the task itself (bad request, network not allowed)
      // would repeat on any worker; anything else is the worker's problem.
      const refused =
        err instanceof ClientError && (err.code === Status.INVALID_ARGUMENT || err.code === Status.FAILED_PRECONDITION);
      const why = `worker ${worker.workerId} ${refused ? 'refused' : 'did not accept'} the task: ${
        err instanceof ClientError ? err.details : (err as Error).message
      }`;
      this.log.warn({ err, taskId: task.taskId, workerId: worker.workerId, refused }, why);
      await this.requeue(task, why, { retry: !refused });
    }
  }

  /** A worker's progress report: RUNNING or UPLOADING, for the current assignment only. */
  async reportStatus(taskId: string, assignmentId: string, status: TaskStatus): Promise<void> {
    const from: TaskStatus[] = status === 'RUNNING' ? ['SCHEDULED'] : ['SCHEDULED', 'RUNNING'];
    const patch = status === 'RUNNING' ? { status, reason: '', startedAt: new Date() } : { status, reason: 'uploading outputs' };
    const updated = await this.store.updateTask(taskId, { statuses: from, assignmentId }, patch);
    if (updated) {
      this.log.info({ taskId, assignmentId, status }, 'task status');
      this.options.onTaskChanged?.(taskId);
      return;
    }
    const task = await this.requireCurrent(taskId, assignmentId);
    // A resent report of a state already reached (or passed) is harmless.
    if (task.status === status || (status === 'RUNNING' && task.status === 'UPLOADING')) return;
    throw failedPrecondition(`task ${taskId} is ${task.status}; cannot move to ${status}`);
  }

  /** A worker's final report. Only the current assignment's is accepted, once. */
  async complete(c: Completion): Promise<void> {
    const now = new Date();
    const updated = await this.store.updateTask(
      c.taskId,
      { statuses: ACTIVE_STATUSES, assignmentId: c.assignmentId },
      {
        status: c.status,
        exitCode: c.exitCode,
        reason: c.reason,
        finishedAt: now,
        outputFiles: c.outputFiles,
        outputBytes: c.outputBytes,
      },
    );
    if (!updated) {
      const task = await this.requireCurrent(c.taskId, c.assignmentId);
      if (task.status === c.status) return; // a retried report that already landed
      throw failedPrecondition(`task ${c.taskId} is ${task.status}; its result can no longer change`);
    }
    this.log.info({ taskId: c.taskId, status: c.status, exitCode: c.exitCode }, 'task finished');
    this.options.onTaskChanged?.(c.taskId);
    await this.releaseAssignment(updated, c.status);
    await this.store.putResult({
      taskId: c.taskId,
      workerId: updated.workerId ?? '',
      status: c.status,
      exitCode: c.exitCode,
      completedAt: now,
      logBytes: updated.logBytes,
    });
  }

  /** The task, if `assignmentId` is its current assignment; FAILED_PRECONDITION otherwise. */
  private async requireCurrent(taskId: string, assignmentId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw notFound(`task ${taskId} not found`);
    if (task.assignmentId !== assignmentId) {
      throw failedPrecondition(`assignment ${assignmentId} is no longer current for task ${taskId}`);
    }
    return task;
  }

  /**
   * Takes a task back from its worker: QUEUED again for another attempt, or
   * FAILED when it has used all of them.
   */
  async requeue(task: TaskRecord, why: string, { retry = true } = {}): Promise<void> {
    if (!task.assignmentId) return;
    const exhausted = !retry || task.attempt >= this.options.maxAttempts;
    const patch = exhausted
      ? {
          status: 'FAILED' as const,
          reason: retry ? `${why}; gave up after ${task.attempt} attempts` : why,
          finishedAt: new Date(),
        }
      : {
          status: 'QUEUED' as const,
          reason: `${why}; will retry (attempt ${task.attempt + 1} of ${this.options.maxAttempts})`,
          assignmentId: null,
          workerId: null,
          scheduledAt: null,
          startedAt: null,
        };
    const updated = await this.store.updateTask(
      task.taskId,
      { statuses: ACTIVE_STATUSES, assignmentId: task.assignmentId },
      patch,
    );
    if (!updated) return;
    this.log.warn({ taskId: task.taskId, assignmentId: task.assignmentId, exhausted }, why);
    this.options.onTaskChanged?.(task.taskId);
    await this.releaseAssignment(task, exhausted ? 'FAILED' : 'REQUEUED');
    this.events.changed();
  }

  /** After the user deleted a task's stored outputs, its record no longer lists them. */
  async forgetOutputs(taskId: string): Promise<void> {
    await this.store.updateTask(taskId, {}, { outputFiles: [], outputBytes: 0 });
  }

  /** Gives the task's resources back to its worker and closes its assignment. */
  private async releaseAssignment(task: TaskRecord, outcome: string): Promise<void> {
    if (task.workerId) await this.store.releaseOnWorker(task.workerId, toUnits(task.resources));
    if (task.assignmentId) await this.store.finishAssignment(task.assignmentId, outcome);
    this.events.changed();
  }
}
