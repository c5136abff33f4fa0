import type { Logger } from '@cloudai/logger';
import type { RunningAssignment } from '@cloudai/proto';
import { unavailable } from '@cloudai/rpc';
import { delay } from 'abort-controller-x';
import type { DockerExecutor } from './docker-executor.js';
import { ABANDON_REASON, Execution, type ExecutionTask, type LogShippingConfig, logShipperFor, SHUTDOWN_REASON } from './execution.js';
import { LogSpool } from './log-spool.js';
import type { OutputFolders } from './output-folders.js';
import type { OutputUploader } from './output-uploader.js';
import type { Reporter } from './reporter.js';

export type RunnerState = 'ACCEPTING' | 'DRAINING' | 'STOPPED';

export interface TaskRunnerOptions {
  executor: DockerExecutor;
  reporter: Reporter;
  workerId: string;
  logger: Logger;
  stopGraceSeconds: number;
  logs: LogShippingConfig;
  outputs: OutputFolders;
  uploader: OutputUploader;
}

/** How many finished assignment ids are remembered so a retried AssignTask does not run a task twice. */
const REMEMBERED_FINISHED = 1000;

/**
 * The log spool of an assignment a previous process of this worker ran: it
 * is listed as running, so the master keeps the assignment current, until
 * the spool is shipped. Its container is gone; once the log is in, the
 * worker forgets the assignment and the master re-queues the task, as for
 * any task a restarted worker no longer runs.
 */
interface ResumedLog {
  taskId: string;
  assignmentId: string;
  /** aborted when the master calls the assignment stale or cancels it: the spool is deleted */
  dropped: AbortController;
  done?: Promise<void>;
}

/** The worker's executions, keyed by assignment id. */
export class TaskRunner {
  private readonly executions = new Map<string, Execution>();
  private readonly resumed = new Map<string, ResumedLog>();
  private readonly finished = new Set<string>();
  private readonly reports = new AbortController();
  private readonly log: Logger;
  private currentState: RunnerState = 'ACCEPTING';
  private abandoning?: Promise<void>;

  constructor(private readonly options: TaskRunnerOptions) {
    this.log = options.logger.child({ component: 'runner' });
  }

  get state(): RunnerState {
    return this.currentState;
  }

  /**
   * Starts an execution for the assignment unless this assignment id was
   * already accepted (running or recently finished). Returns at once.
   */
  assign(task: ExecutionTask): 'started' | 'duplicate' {
    if (this.executions.has(task.assignmentId) || this.finished.has(task.assignmentId) || this.resumed.has(task.assignmentId)) {
      this.log.info({ taskId: task.taskId, assignmentId: task.assignmentId }, 'assignment already accepted');
      return 'duplicate';
    }
    if (this.currentState !== 'ACCEPTING') throw unavailable('worker is shutting down; place the task elsewhere');
    for (const other of this.executions.values()) {
      // A new assignment for the same task is a newer fencing token: the old
      // attempt can no longer report, so it only wastes resources.
      if (other.taskId === task.taskId) other.stop('stale', `superseded by assignment ${task.assignmentId}`);
    }
    const execution = Execution.start(task, {
      executor: this.options.executor,
      reporter: this.options.reporter,
      workerId: this.options.workerId,
      logger: this.options.logger,
      reportSignal: this.reports.signal,
      stopGraceSeconds: this.options.stopGraceSeconds,
      logs: this.options.logs,
      outputs: this.options.outputs,
      uploader: this.options.uploader,
    });
    this.executions.set(task.assignmentId, execution);
    void execution.done.then(() => this.forget(execution));
    this.log.info({ taskId: task.taskId, assignmentId: task.assignmentId, image: task.image }, 'assignment accepted');
    return 'started';
  }

  /**
   * Stops the execution of `assignmentId` (or, when empty, of `taskId`)
   * without reporting a result. False when there is no such execution.
   */
  cancel(taskId: string, assignmentId: string, reason: string): boolean {
    const execution = this.find(taskId, assignmentId);
    if (!execution) {
      const resumed = [...this.resumed.values()].find((r) => (assignmentId ? r.assignmentId === assignmentId : r.taskId === taskId));
      resumed?.dropped.abort();
      return resumed !== undefined;
    }
    execution.stop('cancelled', reason || 'cancelled by the master');
    return true;
  }

  /** Stops executions the master no longer considers current. */
  dropStale(stale: readonly RunningAssignment[]): void {
    for (const s of stale) {
      const execution = this.executions.get(s.assignmentId);
      if (execution?.taskId === s.taskId) execution.stop('stale', 'the master says this assignment is stale');
      const resumed = this.resumed.get(s.assignmentId);
      if (resumed?.taskId === s.taskId) resumed.dropped.abort();
    }
  }

  /** Every assignment not yet DONE, including those still delivering their result or a spooled log. */
  running(): RunningAssignment[] {
    return [
      ...[...this.executions.values()].map((e) => ({ taskId: e.taskId, assignmentId: e.assignmentId })),
      ...[...this.resumed.values()].map((r) => ({ taskId: r.taskId, assignmentId: r.assignmentId })),
    ];
  }

  /**
   * Finds the log spools a previous process of this worker left (before the
   * first registration, whose running list names their assignments);
   * returns how many.
   */
  async recoverLogs(): Promise<number> {
    const found = await LogSpool.list(this.options.logs.spoolRoot);
    for (const f of found) this.resumed.set(f.assignmentId, { ...f, dropped: new AbortController() });
    return found.length;
  }

  /** Ships the recovered spools; called once registered, as the calls need the worker's credential. Safe to call again. */
  resumeLogs(): void {
    for (const r of this.resumed.values()) r.done ??= this.shipResumed(r);
  }

  private async shipResumed(r: ResumedLog): Promise<void> {
    const log = this.log.child({ taskId: r.taskId, assignmentId: r.assignmentId });
    const root = this.options.logs.spoolRoot;
    try {
      const spool = await LogSpool.open(root, r.taskId, r.assignmentId, { memoryBytes: 0, onDiskBytes: this.options.logs.onSpoolDisk });
      const shipper = logShipperFor(this.options.logs, r, spool, {
        logger: this.options.logger,
        signal: AbortSignal.any([this.reports.signal, r.dropped.signal]),
        keepOnAbort: () => !r.dropped.signal.aborted,
      });
      log.info({ spool: spool.dir }, 'shipping the log a previous worker process left in its spool');
      const stats = await shipper.close();
      log.info({ ...stats }, stats.leftBytes > 0 ? 'log spool left for the next process' : 'spooled log shipped');
    } catch (err) {
      log.error({ err }, 'could not ship a spooled log');
    } finally {
      this.resumed.delete(r.assignmentId);
    }
  }

  runningContainers(): number {
    let n = 0;
    for (const e of this.executions.values()) if (e.state === 'RUNNING') n++;
    return n;
  }

  get(assignmentId: string): Execution | undefined {
    return this.executions.get(assignmentId);
  }

  /**
   * Refuses new assignments, lets running executions finish for up to
   * `graceMs`, then stops the rest (reported FAILED "worker shut down").
   * Reports still undelivered after `reportDeadlineMs` more are given up.
   */
  async shutdown(graceMs: number, reportDeadlineMs: number): Promise<void> {
    if (this.currentState !== 'ACCEPTING') return;
    this.currentState = 'DRAINING';
    const all = () => Promise.all([...this.executions.values()].map((e) => e.done));
    if (this.executions.size > 0) {
      this.log.info({ running: this.executions.size, graceMs }, 'waiting for running tasks to finish');
      await raceDeadline(all(), graceMs);
    }
    if (this.executions.size > 0) {
      this.log.warn({ running: this.executions.size }, 'grace period over; stopping remaining tasks');
      for (const e of this.executions.values()) e.stop('shutdown', SHUTDOWN_REASON);
      await raceDeadline(all(), reportDeadlineMs);
    }
    // Results the master could not take by now would block exit forever;
    // the master re-queues those tasks when this worker goes silent.
    this.reports.abort();
    await all();
    await this.resumedDone();
    this.currentState = 'STOPPED';
  }

  /**
   * The stop for a worker whose supervisor died: refuses new assignments,
   * kills every container at once and reports nothing, not even after a
   * shutdown() began (its wait ends with the executions). The master
   * re-queues the tasks once it finds this worker lost. Resolves when every
   * execution has ended, its container removed; safe to call twice.
   */
  abandon(): Promise<void> {
    return (this.abandoning ??= this.abandonAll());
  }

  private async abandonAll(): Promise<void> {
    if (this.currentState === 'ACCEPTING') this.currentState = 'DRAINING';
    if (this.executions.size > 0) this.log.warn({ running: this.executions.size }, 'killing running tasks without reporting them');
    for (const e of this.executions.values()) e.stop('abandoned', ABANDON_REASON);
    this.reports.abort();
    await Promise.all([...this.executions.values()].map((e) => e.done));
    await this.resumedDone();
    this.currentState = 'STOPPED';
  }

  /** Waits for the spooled logs being shipped: with reports given up, they stop and keep their spools. */
  private async resumedDone(): Promise<void> {
    await Promise.all([...this.resumed.values()].map((r) => r.done));
  }

  private find(taskId: string, assignmentId: string): Execution | undefined {
    if (assignmentId) {
      const e = this.executions.get(assignmentId);
      return e && (!taskId || e.taskId === taskId) ? e : undefined;
    }
    return [...this.executions.values()].find((e) => e.taskId === taskId);
  }

  private forget(execution: Execution): void {
    this.executions.delete(execution.assignmentId);
    this.finished.add(execution.assignmentId);
    if (this.finished.size > REMEMBERED_FINISHED) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }
}

async function raceDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  const timer = new AbortController();
  await Promise.race([work, delay(timer.signal, ms).catch(() => {})]);
  timer.abort();
}
