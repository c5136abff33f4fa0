import {
  DEFAULT_RESOURCES,
  defaultTaskName,
  IDEMPOTENCY_KEY_PATTERN,
  IDEMPOTENCY_KEY_RULE,
  formatBytes,
  isTerminal,
  newTaskId,
  validateTaskSpec,
  type Resources,
  type TaskSpec,
  type TaskStatus,
} from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { DomainError, failedPrecondition, invalidArgument, notFound } from '@cloudai/rpc';
import { Status } from 'nice-grpc';
import { newTaskRecord, type OutputFileRecord, type Store, type TaskFilter, type TaskRecord } from '@cloudai/store';
import type { MasterEvents } from './events.js';
import type { UserPrincipal } from './auth/principal.js';
import type { TaskLifecycle } from './task-lifecycle.js';
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
}

/**
 * What users and workers do to tasks: submit, read, cancel, and the
 * worker's reports. Every status change goes through the task lifecycle,
 * conditioned on the current status and, for a worker's reports, its
 * assignment (the fencing token), so concurrent callers and stale workers
 * cannot both win.
 */
export class TaskManager {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: TaskLifecycle,
    private readonly events: MasterEvents,
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
    if (opts.idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(opts.idempotencyKey)) {
      throw invalidArgument(`idempotency_key must be ${IDEMPOTENCY_KEY_RULE}`);
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
      queuedAt: now,
      idempotencyKey: opts.idempotencyKey ? `${userId}:${opts.idempotencyKey}` : taskId,
    });
    const result = await this.store.createTask(record);
    if (result.created) {
      this.events.emit({ kind: 'task', taskId, status: 'QUEUED', transition: undefined, task: result.task });
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

  /**
   * A task the caller may see: their own, or any for an admin. Another
   * user's task answers exactly as a missing one (NOT_FOUND, same message,
   * same one store read); the refusal is logged so probing shows.
   */
  async get(caller: UserPrincipal, taskId: string): Promise<TaskRecord> {
    if (!taskId) throw invalidArgument('task_id is required');
    const task = await this.store.getTask(taskId);
    if (task && (caller.role === 'admin' || task.userId === caller.userName)) return task;
    if (task) this.log.info({ caller: caller.userName, taskId }, "refused a look-up of another user's task");
    throw notFound(`task ${taskId} not found`);
  }

  list(filter: TaskFilter): Promise<TaskRecord[]> {
    return this.store.listTasks(filter);
  }

  async cancel(caller: UserPrincipal, taskId: string, reason: string): Promise<TaskRecord> {
    const task = await this.get(caller, taskId);
    if (isTerminal(task.status)) {
      throw failedPrecondition(`task ${taskId} already ended: ${task.status}`);
    }
    const why = reason || `cancelled by ${caller.userName}`;
    const updated = await this.lifecycle.move('cancel', task, { status: 'CANCELLED', reason: why, finishedAt: new Date() });
    if (!updated) {
      const now = await this.get(caller, taskId);
      throw failedPrecondition(`task ${taskId} already ended: ${now.status}`);
    }
    this.log.info({ taskId, previous: task.status }, 'task cancelled');
    if (updated.assignmentId && updated.workerId) {
      const worker = await this.store.getWorker(updated.workerId);
      if (worker) void this.workers.cancel(worker, taskId, updated.assignmentId, why);
    }
    return updated;
  }

  /**
   * A worker's progress report: RUNNING or UPLOADING, for the current
   * assignment only. With UPLOADING, `outputs` is what the worker is about
   * to upload, when it said.
   */
  async reportStatus(
    taskId: string,
    assignmentId: string,
    status: 'RUNNING' | 'UPLOADING',
    outputs?: { bytes: number; files: number },
  ): Promise<void> {
    const task = { taskId, assignmentId, workerId: null };
    const updated =
      status === 'RUNNING'
        ? await this.lifecycle.move('start', task, { status, reason: '', startedAt: new Date() }, { assignmentId })
        : await this.lifecycle.move('upload', task, { status, reason: uploadingReason(outputs), uploadingAt: new Date() }, { assignmentId });
    if (updated) {
      this.log.info({ taskId, assignmentId, status }, 'task status');
      return;
    }
    const current = await this.requireCurrent(taskId, assignmentId);
    // A resent report of a state already reached (or passed) is harmless.
    if (current.status === status || (status === 'RUNNING' && current.status === 'UPLOADING')) return;
    throw failedPrecondition(`task ${taskId} is ${current.status}; cannot move to ${status}`);
  }

  /** A worker's final report. Only the current assignment's is accepted, once. */
  async complete(c: Completion): Promise<void> {
    const now = new Date();
    const updated = await this.lifecycle.move(
      'complete',
      { taskId: c.taskId, assignmentId: c.assignmentId, workerId: null },
      {
        status: c.status,
        exitCode: c.exitCode,
        reason: c.reason,
        finishedAt: now,
        outputFiles: c.outputFiles,
        outputBytes: c.outputBytes,
      },
      { assignmentId: c.assignmentId },
    );
    if (!updated) {
      const task = await this.requireCurrent(c.taskId, c.assignmentId);
      if (task.status === c.status) return; // a retried report that already landed
      throw failedPrecondition(`task ${c.taskId} is ${task.status}; its result can no longer change`);
    }
    this.log.info({ taskId: c.taskId, status: c.status, exitCode: c.exitCode }, 'task finished');
    await this.store.putResult({
      taskId: c.taskId,
      workerId: updated.workerId ?? '',
      status: c.status,
      exitCode: c.exitCode,
      completedAt: now,
      logBytes: updated.logBytes,
    });
  }

  /**
   * The task, unless `assignmentId` is one of its assignments placed on
   * another worker (PERMISSION_DENIED): a worker reports only on its own.
   * A stale or unknown assignment is left for the report itself to refuse.
   */
  async requireOnWorker(taskId: string, assignmentId: string, workerId: string): Promise<TaskRecord> {
    const task = await this.store.getTask(taskId);
    if (!task) throw notFound(`task ${taskId} not found`);
    if (task.assignmentId === assignmentId && task.workerId !== workerId) {
      this.log.warn({ taskId, assignmentId, workerId, placedOn: task.workerId }, "refused a worker's report on another worker's assignment");
      throw new DomainError(Status.PERMISSION_DENIED, `assignment ${assignmentId} is not placed on worker ${workerId}`);
    }
    return task;
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
   * FAILED when it has used all of them (or, with `retry: false`, at once).
   */
  async requeue(task: TaskRecord, why: string, { retry = true } = {}): Promise<void> {
    if (!task.assignmentId) return;
    const fence = { assignmentId: task.assignmentId };
    const exhausted = !retry || task.attempt >= this.options.maxAttempts;
    const moved = exhausted
      ? await this.lifecycle.move(
          'giveUp',
          task,
          { status: 'FAILED', reason: retry ? `${why}; gave up after ${task.attempt} attempts` : why, finishedAt: new Date() },
          fence,
        )
      : await this.lifecycle.move(
          'retry',
          task,
          {
            status: 'QUEUED',
            reason: `${why}; will retry (attempt ${task.attempt + 1} of ${this.options.maxAttempts})`,
            ...UNASSIGNED,
            queuedAt: new Date(),
          },
          fence,
        );
    if (moved) this.log.warn({ taskId: task.taskId, assignmentId: task.assignmentId, exhausted }, why);
  }

  /**
   * Takes back a task whose assignment never reached its worker, without
   * using up an attempt: the attempt number is given back for the next
   * placement. That is safe for the log, whose positions are per attempt:
   * the master stores a task's log only once its worker reported it RUNNING,
   * and this move applies only while it is still SCHEDULED on that
   * assignment, so the assignment stored no log.
   */
  async undeliver(task: TaskRecord, why: string): Promise<void> {
    if (!task.assignmentId) return;
    const moved = await this.lifecycle.move(
      'undeliver',
      task,
      { status: 'QUEUED', reason: `${why}; it will be placed again`, attempt: task.attempt - 1, ...UNASSIGNED, queuedAt: new Date() },
      { assignmentId: task.assignmentId },
    );
    if (moved) this.log.warn({ taskId: task.taskId, assignmentId: task.assignmentId }, why);
  }

  /** After the user deleted a task's stored outputs, its record no longer lists them. */
  async forgetOutputs(taskId: string): Promise<void> {
    await this.store.updateTask(taskId, {}, { outputFiles: [], outputBytes: 0 });
  }
}

/** "uploading outputs", or with their size "uploading 1.2 GB (3 files)". */
function uploadingReason(outputs: { bytes: number; files: number } | undefined): string {
  if (!outputs || outputs.files === 0) return 'uploading outputs';
  return `uploading ${formatBytes(outputs.bytes)} (${outputs.files} file${outputs.files === 1 ? '' : 's'})`;
}

/** A task back in the queue holds no worker. */
const UNASSIGNED = { assignmentId: null, workerId: null, scheduledAt: null, startedAt: null, uploadingAt: null } as const;
