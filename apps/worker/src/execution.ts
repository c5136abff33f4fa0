import { formatDimension } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { TaskStatus } from '@cloudai/proto';
import { isAbortError } from 'abort-controller-x';
import {
  type ContainerSpec,
  type DockerExecutor,
  ImageUnavailableError,
  type RunOutcome,
  StopRequest,
  dockerMessage,
} from './docker-executor.js';
import type { ReportOutcome, Reporter } from './reporter.js';

export type ExecutionState = 'PREPARING' | 'RUNNING' | 'FINISHING' | 'DONE';

/**
 * Why an execution was stopped before its container ended on its own.
 * `cancelled` and `stale` are the master's decisions, so nothing is reported
 * back; `timeout` and `shutdown` are reported as the task's result.
 */
export type StopKind = 'cancelled' | 'stale' | 'timeout' | 'shutdown';

export const SHUTDOWN_REASON = 'worker shut down';

/** A validated assignment: everything an execution needs, nothing from the RPC. */
export interface ExecutionTask extends ContainerSpec {
  /** 0 = no deadline */
  timeoutSeconds: number;
}

export interface ExecutionDeps {
  executor: DockerExecutor;
  reporter: Reporter;
  workerId: string;
  logger: Logger;
  /** the worker's reporting lifetime: aborted only when it gives up on undelivered reports at exit */
  reportSignal: AbortSignal;
  /** seconds between SIGTERM and SIGKILL when cancelled or shut down */
  stopGraceSeconds: number;
}

class StopExecution extends StopRequest {
  constructor(
    readonly kind: StopKind,
    message: string,
    graceSeconds: number,
  ) {
    super(message, graceSeconds);
  }
}

type Completion = { status: TaskStatus; exitCode?: number; reason: string };

/**
 * One assignment's run, from image to reported result. It owns its
 * AbortController and lives until the result is delivered (or the
 * assignment is dropped), independent of the RPC that created it: that
 * call's signal ends as soon as AssignTask returns.
 */
export class Execution {
  private readonly controller = new AbortController();
  /** aborted to stop retrying reports nobody wants any more (cancelled, stale) */
  private readonly dropReports = new AbortController();
  private readonly reportSignal: AbortSignal;
  private readonly log: Logger;
  private currentState: ExecutionState = 'PREPARING';
  private container: string | undefined;
  /** resolves when the execution is DONE; never rejects */
  readonly done: Promise<void>;

  private constructor(
    readonly task: ExecutionTask,
    private readonly deps: ExecutionDeps,
  ) {
    this.log = deps.logger.child({ component: 'execution', taskId: task.taskId, assignmentId: task.assignmentId });
    this.reportSignal = AbortSignal.any([deps.reportSignal, this.dropReports.signal]);
    this.done = this.execute().catch((err: unknown) => {
      this.log.error({ err }, 'execution ended with an unexpected error');
    });
  }

  static start(task: ExecutionTask, deps: ExecutionDeps): Execution {
    return new Execution(task, deps);
  }

  get state(): ExecutionState {
    return this.currentState;
  }

  get containerId(): string | undefined {
    return this.container;
  }

  get taskId(): string {
    return this.task.taskId;
  }

  get assignmentId(): string {
    return this.task.assignmentId;
  }

  /** Stops the execution; false when it was already stopping or done. */
  stop(kind: StopKind, message: string): boolean {
    if (this.controller.signal.aborted || this.currentState === 'DONE') return false;
    this.log.info({ kind, message }, 'stopping execution');
    const grace = kind === 'timeout' ? 0 : this.deps.stopGraceSeconds;
    this.controller.abort(new StopExecution(kind, message, grace));
    if (kind === 'cancelled' || kind === 'stale') this.dropReports.abort();
    return true;
  }

  private stopKind(): StopKind | undefined {
    const reason: unknown = this.controller.signal.reason;
    return reason instanceof StopExecution ? reason.kind : undefined;
  }

  private async execute(): Promise<void> {
    const signal = this.controller.signal;
    let timer: { cancel(): void } | undefined;
    let runningReport: Promise<void> = Promise.resolve();
    try {
      try {
        await this.deps.executor.ensureImage(this.task.image, signal);
      } catch (err) {
        if (signal.aborted) return await this.finishStopped();
        if (err instanceof ImageUnavailableError) {
          return await this.complete({ status: TaskStatus.TASK_STATUS_FAILED, reason: err.message });
        }
        throw err;
      }
      this.log.debug('starting container');
      const outcome = await this.deps.executor.run(this.task, {
        signal,
        onStarted: (containerId) => {
          this.container = containerId;
          this.currentState = 'RUNNING';
          this.log.info({ containerId }, 'container started');
          if (this.task.timeoutSeconds > 0) {
            timer = setLongTimeout(
              () => this.stop('timeout', `timed out after ${this.task.timeoutSeconds} s`),
              this.task.timeoutSeconds * 1000,
            );
          }
          runningReport = this.reportRunning(containerId);
        },
      });
      timer?.cancel();
      this.currentState = 'FINISHING';
      // The result goes out only after RUNNING was delivered, so the master
      // sees the transitions in order.
      await runningReport;
      await this.finish(outcome);
    } catch (err) {
      timer?.cancel();
      if (signal.aborted) {
        await this.finishStopped();
      } else {
        this.log.error({ err }, 'container could not be run');
        await runningReport;
        await this.complete({
          status: TaskStatus.TASK_STATUS_FAILED,
          reason: `container could not be run: ${dockerMessage(err)}`,
        });
      }
    } finally {
      timer?.cancel();
      this.currentState = 'DONE';
    }
  }

  private async reportRunning(containerId: string): Promise<void> {
    const outcome = await this.report(() =>
      this.deps.reporter.reportStatus(
        {
          taskId: this.task.taskId,
          assignmentId: this.task.assignmentId,
          status: TaskStatus.TASK_STATUS_RUNNING,
          reason: '',
          containerId,
        },
        this.reportSignal,
      ),
    );
    if (outcome === 'stale') this.stop('stale', 'the master no longer considers this assignment current');
  }

  private async finish(outcome: RunOutcome): Promise<void> {
    const kind = this.stopKind();
    // Once the master cancelled the task or moved it elsewhere, no result of
    // ours may count, not even a success that raced the cancel.
    if (kind === 'cancelled' || kind === 'stale') return this.finishStopped();
    if (outcome.kind === 'stopped') return this.finishStopped();
    if (outcome.exitCode === 0) {
      return this.complete({ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, reason: '' });
    }
    const reason = outcome.oomKilled
      ? `out of memory (limit ${formatDimension('memoryMb', Math.round(this.task.memoryGb * 1024))})`
      : `exited with code ${outcome.exitCode}`;
    return this.complete({ status: TaskStatus.TASK_STATUS_FAILED, exitCode: outcome.exitCode, reason });
  }

  private async finishStopped(): Promise<void> {
    const kind = this.stopKind();
    const message = (this.controller.signal.reason as Error | undefined)?.message ?? 'stopped';
    switch (kind) {
      case 'timeout':
        return this.complete({ status: TaskStatus.TASK_STATUS_TIMED_OUT, reason: message });
      case 'shutdown':
        return this.complete({ status: TaskStatus.TASK_STATUS_FAILED, reason: SHUTDOWN_REASON });
      default:
        this.log.info({ kind, message }, 'execution stopped; no result reported');
    }
  }

  private async complete(completion: Completion): Promise<void> {
    this.currentState = 'FINISHING';
    const outcome = await this.report(() =>
      this.deps.reporter.completeTask(
        {
          taskId: this.task.taskId,
          assignmentId: this.task.assignmentId,
          workerId: this.deps.workerId,
          status: completion.status,
          exitCode: completion.exitCode,
          reason: completion.reason,
          outputFiles: [],
          outputBytes: 0,
        },
        this.reportSignal,
      ),
    );
    this.log.info(
      { status: TaskStatus[completion.status], exitCode: completion.exitCode, reason: completion.reason, outcome },
      'task completed',
    );
  }

  /** A report that the worker gave up on (exit, or the assignment was dropped) is logged, not thrown. */
  private async report(send: () => Promise<ReportOutcome>): Promise<ReportOutcome | 'undelivered'> {
    try {
      return await send();
    } catch (err) {
      if (!isAbortError(err) && !this.reportSignal.aborted) throw err;
      if (!this.dropReports.signal.aborted) this.log.error('gave up delivering a report: the worker is exiting');
      return 'undelivered';
    }
  }
}

// setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days),
// shorter than the longest timeout a task may ask for; re-arm until due.
const MAX_TIMER_MS = 2 ** 31 - 1;

function setLongTimeout(fn: () => void, ms: number): { cancel(): void } {
  const due = Date.now() + ms;
  let handle: NodeJS.Timeout;
  const arm = () => {
    const left = due - Date.now();
    handle = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return { cancel: () => clearTimeout(handle) };
}
