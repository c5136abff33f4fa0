import { formatDimension } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { type OutputFile, TaskProgress, TaskStatus } from '@cloudai/proto';
import { isAbortError } from 'abort-controller-x';
import {
  type ContainerSpec,
  type DockerExecutor,
  ImageUnavailableError,
  type RunOutcome,
  StopRequest,
  dockerMessage,
} from './docker-executor.js';
import { LogShipper, type LogShipperOptions } from './log-shipper.js';
import { LogSpool } from './log-spool.js';
import type { OutputFolders } from './output-folders.js';
import type { OutputUploader, UploadResult } from './output-uploader.js';
import type { ClusterClient, ReportOutcome, Reporter } from './reporter.js';

/**
 * PREPARING (image, output folder) → RUNNING (container) → FINISHING (last
 * logs, reports) → UPLOADING (outputs to storage, once the master knows) →
 * FINISHING (result) → DONE.
 */
export type ExecutionState = 'PREPARING' | 'RUNNING' | 'FINISHING' | 'UPLOADING' | 'DONE';

/**
 * Why an execution was stopped before its container ended on its own.
 * `cancelled` and `stale` are the master's decisions, so nothing is reported
 * back; `timeout` and `shutdown` are reported as the task's result.
 * `abandoned`: the worker is exiting at once (its supervisor died), so the
 * container is killed without a grace and nothing is reported either: the
 * master, finding the worker lost (or its next registration without the
 * task), re-queues the task and runs it again.
 */
export type StopKind = 'cancelled' | 'stale' | 'timeout' | 'shutdown' | 'abandoned';

export const SHUTDOWN_REASON = 'worker shut down';
export const ABANDON_REASON = 'worker exiting at once: its supervisor is gone';

/** A validated assignment: everything an execution needs, nothing from the RPC. */
export interface ExecutionTask extends ContainerSpec {
  /** 0 = no deadline */
  timeoutSeconds: number;
  /** where storage files the outputs: <user>/<task_name>/<submitted_at>/<task_id> */
  taskName: string;
  userId: string;
  submittedAt: Date | undefined;
}

export interface LogShippingConfig {
  client: ClusterClient;
  /** WORKER_LOG_FLUSH_MS */
  flushMs: number;
  /** WORKER_LOG_BUFFER_BYTES: output kept in memory (as well as in the spool) per task */
  bufferBytes: number;
  /** WORKER_LOG_SPOOL_BYTES: output per task waiting for the master before new output is dropped */
  spoolBytes: number;
  /** the folder of the per-assignment spools (0700) */
  spoolRoot: string;
  /** told of output dropped by a full spool, a capped log or a refused batch */
  onDropped?: (bytes: number) => void;
  /** told when the bytes in spools on disk change */
  onSpoolDisk?: (delta: number) => void;
}

/** A shipper for one assignment's output, with its spool. */
export function logShipperFor(
  config: LogShippingConfig,
  ids: { taskId: string; assignmentId: string },
  spool: LogSpool,
  rest: Pick<LogShipperOptions, 'logger' | 'signal' | 'keepOnAbort' | 'onStale'>,
): LogShipper {
  return new LogShipper({
    client: config.client,
    ...ids,
    flushMs: config.flushMs,
    spoolBytes: config.spoolBytes,
    spool,
    onDropped: config.onDropped,
    ...rest,
  });
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
  logs: LogShippingConfig;
  outputs: OutputFolders;
  uploader: OutputUploader;
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

type Completion = {
  status: TaskStatus;
  exitCode?: number;
  reason: string;
  outputFiles?: OutputFile[];
  outputBytes?: number;
};

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
  private readonly logs: LogShipper;
  private outputDir: string | undefined;
  /** set when the worker gave up on an upload at exit: the folder is what is left of the outputs */
  private keepOutputDir = false;
  /** resolves when the execution is DONE; never rejects */
  readonly done: Promise<void>;

  private constructor(
    readonly task: ExecutionTask,
    private readonly deps: ExecutionDeps,
  ) {
    this.log = deps.logger.child({ component: 'execution', taskId: task.taskId, assignmentId: task.assignmentId });
    this.reportSignal = AbortSignal.any([deps.reportSignal, this.dropReports.signal]);
    const spool = LogSpool.create(deps.logs.spoolRoot, task.taskId, task.assignmentId, {
      memoryBytes: deps.logs.bufferBytes,
      onDiskBytes: deps.logs.onSpoolDisk,
    });
    this.logs = logShipperFor(deps.logs, task, spool, {
      logger: deps.logger,
      signal: this.reportSignal,
      // A worker exiting leaves the rest for its next process; a dropped assignment's log is nobody's.
      keepOnAbort: () => !this.dropReports.signal.aborted,
      onStale: () => this.stop('stale', 'the master no longer considers this assignment current'),
    });
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
    if (this.currentState === 'DONE') return false;
    const drop = kind === 'cancelled' || kind === 'stale' || kind === 'abandoned';
    if (this.controller.signal.aborted) {
      // A stop under way may be waiting out the container's grace.
      if (kind === 'abandoned' && this.container) void this.deps.executor.kill(this.container);
      // Already stopped (say, timed out and now uploading): a cancel still
      // ends the upload and the reports, which nobody wants any more.
      if (!drop || this.dropReports.signal.aborted) return false;
      this.log.info({ kind, message }, 'dropping the rest of a stopped execution');
      this.dropReports.abort();
      return true;
    }
    this.log.info({ kind, message }, 'stopping execution');
    const grace = kind === 'timeout' || kind === 'abandoned' ? 0 : this.deps.stopGraceSeconds;
    this.controller.abort(new StopExecution(kind, message, grace));
    if (drop) this.dropReports.abort();
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
        await this.deps.executor.ensureImage(this.task.image, signal, () =>
          this.progress(TaskProgress.TASK_PROGRESS_PULLING_IMAGE),
        );
      } catch (err) {
        if (signal.aborted) return await this.finishStopped();
        if (err instanceof ImageUnavailableError) {
          return await this.complete({ status: TaskStatus.TASK_STATUS_FAILED, reason: err.message });
        }
        throw err;
      }
      try {
        this.outputDir = await this.deps.outputs.create(this.task.taskId, this.task.assignmentId);
      } catch (err) {
        this.log.error({ err }, 'output folder could not be created');
        return await this.complete({
          status: TaskStatus.TASK_STATUS_FAILED,
          reason: `output folder could not be created: ${(err as Error).message}`,
        });
      }
      this.log.debug({ outputDir: this.outputDir }, 'starting container');
      const outcome = await this.deps.executor.run(this.task, {
        signal,
        outputDir: this.outputDir,
        onOutput: (stream, data) => this.logs.write(stream, data),
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
          // Logs go out once the master has the task RUNNING; until then they
          // are only buffered.
          runningReport = this.reportRunning(containerId).then(() => this.logs.start());
        },
      });
      timer?.cancel();
      this.currentState = 'FINISHING';
      // The result goes out only after RUNNING was delivered, so the master
      // sees the transitions in order.
      await runningReport;
      await this.closeLogs();
      await this.finish(outcome);
    } catch (err) {
      timer?.cancel();
      await runningReport;
      await this.closeLogs();
      if (signal.aborted) {
        await this.finishStopped();
      } else {
        this.log.error({ err }, 'container could not be run');
        await this.complete({
          status: TaskStatus.TASK_STATUS_FAILED,
          reason: `container could not be run: ${dockerMessage(err)}`,
        });
      }
    } finally {
      timer?.cancel();
      if (this.outputDir && !this.keepOutputDir) await this.deps.outputs.remove(this.outputDir);
      this.currentState = 'DONE';
    }
  }

  /** Every byte the task wrote reaches the master before any later report does. */
  private async closeLogs(): Promise<void> {
    const stats = await this.logs.close();
    if (stats.droppedBytes > 0) {
      this.log.warn({ ...stats }, 'some of the task output was dropped (log spool full, log capped or batch refused)');
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
          outputBytes: 0,
          outputFiles: 0,
        },
        this.reportSignal,
      ),
    );
    if (outcome === 'stale') this.stop('stale', 'the master no longer considers this assignment current');
  }

  private async finish(outcome: RunOutcome): Promise<void> {
    const kind = this.stopKind();
    // Once the master cancelled the task or moved it elsewhere, no result of
    // ours may count, not even a success that raced the cancel; an abandoned
    // one has nobody left to take it.
    if (kind === 'cancelled' || kind === 'stale' || kind === 'abandoned') return this.finishStopped();
    if (outcome.kind === 'stopped') {
      const completion = this.stoppedCompletion();
      return completion ? this.uploadAndComplete(completion) : this.finishStopped();
    }
    if (outcome.exitCode === 0) {
      return this.uploadAndComplete({ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, reason: '' });
    }
    const reason = outcome.oomKilled
      ? `out of memory (limit ${formatDimension('memoryMb', Math.round(this.task.memoryGb * 1024))})`
      : `exited with code ${outcome.exitCode}`;
    return this.uploadAndComplete({ status: TaskStatus.TASK_STATUS_FAILED, exitCode: outcome.exitCode, reason });
  }

  /** The result a stop by timeout or shutdown is reported as; undefined when none is reported. */
  private stoppedCompletion(): Completion | undefined {
    switch (this.stopKind()) {
      case 'timeout':
        return { status: TaskStatus.TASK_STATUS_TIMED_OUT, reason: (this.controller.signal.reason as Error).message };
      case 'shutdown':
        return { status: TaskStatus.TASK_STATUS_FAILED, reason: SHUTDOWN_REASON };
      default:
        return undefined;
    }
  }

  private async finishStopped(): Promise<void> {
    const completion = this.stoppedCompletion();
    if (completion) return this.complete(completion);
    const message = (this.controller.signal.reason as Error | undefined)?.message ?? 'stopped';
    this.log.info({ kind: this.stopKind(), message }, 'execution stopped; no result reported');
  }

  /**
   * UPLOADING, then the output folder to storage, then the result with
   * storage's file list. The folder goes only once storage has it (or has
   * refused it); a worker giving up at exit leaves it in place.
   */
  private async uploadAndComplete(completion: Completion): Promise<void> {
    const folder = this.outputDir;
    if (!folder) return this.complete(completion);
    let grant = '';
    const size = await this.deps.outputs.measure(folder);
    // The UPLOADING report is also how the worker gets the master's grant to upload.
    const reportUploading = () =>
      this.report(async () => {
        const answer = await this.deps.reporter.reportUploading(
          {
            taskId: this.task.taskId,
            assignmentId: this.task.assignmentId,
            status: TaskStatus.TASK_STATUS_UPLOADING,
            reason: '',
            containerId: this.container ?? '',
            outputBytes: size?.bytes ?? 0,
            outputFiles: size?.files ?? 0,
          },
          this.reportSignal,
        );
        grant = answer.uploadGrant;
        return answer.outcome;
      });
    const reported = await reportUploading();
    if (reported === 'stale') {
      this.stop('stale', 'the master no longer considers this assignment current');
      return;
    }
    if (reported === 'undelivered') return this.giveUpOutputs();
    if (!grant) {
      return this.complete({
        status: TaskStatus.TASK_STATUS_FAILED,
        exitCode: completion.exitCode,
        reason: 'outputs could not be uploaded: the master refused the upload',
      });
    }
    this.currentState = 'UPLOADING';
    const started = performance.now();
    let result: UploadResult;
    try {
      result = await this.deps.uploader.upload(
        {
          taskId: this.task.taskId,
          assignmentId: this.task.assignmentId,
          grant,
          renewGrant: async () => ((await reportUploading()) === 'accepted' ? grant : undefined),
          folder,
        },
        this.reportSignal,
      );
    } catch (err) {
      if (!this.reportSignal.aborted) throw err;
      return this.giveUpOutputs();
    }
    this.currentState = 'FINISHING';
    if (result.kind === 'failed') {
      // The container's own exit code still tells what the task did.
      return this.complete({ status: TaskStatus.TASK_STATUS_FAILED, exitCode: completion.exitCode, reason: result.reason });
    }
    // An empty output folder is nothing to tell anyone about.
    if (result.files.length > 0) {
      await this.progress(TaskProgress.TASK_PROGRESS_OUTPUTS_STORED, {
        bytes: result.totalBytes,
        files: result.files.length,
        durationMs: Math.round(performance.now() - started),
      });
    }
    return this.complete({ ...completion, outputFiles: result.files, outputBytes: result.totalBytes });
  }

  /** Tells the master what the execution is doing, for the task's events (best effort, see Reporter). */
  private progress(progress: TaskProgress, detail: { bytes: number; files: number; durationMs: number } = { bytes: 0, files: 0, durationMs: 0 }): Promise<void> {
    return this.deps.reporter.reportProgress(
      { taskId: this.task.taskId, assignmentId: this.task.assignmentId, progress, ...detail },
      this.reportSignal,
    );
  }

  private giveUpOutputs(): void {
    if (this.dropReports.signal.aborted) {
      this.log.info('execution dropped; outputs discarded');
      return;
    }
    this.keepOutputDir = true;
    this.log.error({ outputDir: this.outputDir }, 'gave up uploading outputs: the worker is exiting; the folder is kept');
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
          outputFiles: completion.outputFiles ?? [],
          outputBytes: completion.outputBytes ?? 0,
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
