import type { Logger } from '@cloudai/logger';
import {
  TaskProgress,
  type ClusterServiceDefinition,
  type CompleteTaskRequest,
  type ReportProgressRequest,
  type ReportTaskStatusRequest,
} from '@cloudai/proto';
import { isStale, isTransient, withRetry } from '@cloudai/rpc';
import type { Client } from 'nice-grpc';

export type ClusterClient = Client<typeof ClusterServiceDefinition>;

/**
 * How the master answered a report: `accepted`; `stale` when the assignment
 * is no longer current (FAILED_PRECONDITION / NOT_FOUND), so the worker
 * drops it; `rejected` when the master refused it for another reason that
 * resending cannot fix.
 */
export type ReportOutcome = 'accepted' | 'stale' | 'rejected';

/** How long a progress report may take: it is not worth holding up the task for. */
const PROGRESS_DEADLINE_MS = 5_000;

export interface ReporterOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** Sends task status and completion reports to the master, retrying through its outages. */
export class Reporter {
  private readonly log: Logger;

  constructor(
    private readonly client: ClusterClient,
    logger: Logger,
    private readonly options: ReporterOptions = {},
  ) {
    this.log = logger.child({ component: 'reporter' });
  }

  reportStatus(request: ReportTaskStatusRequest, signal: AbortSignal): Promise<ReportOutcome> {
    return this.send('ReportTaskStatus', request, signal, () => this.client.reportTaskStatus(request, { signal }));
  }

  /** An UPLOADING report, whose answer carries the grant to upload the outputs with. */
  async reportUploading(
    request: ReportTaskStatusRequest,
    signal: AbortSignal,
  ): Promise<{ outcome: ReportOutcome; uploadGrant: string }> {
    let uploadGrant = '';
    const outcome = await this.send('ReportTaskStatus', request, signal, async () => {
      uploadGrant = (await this.client.reportTaskStatus(request, { signal })).uploadGrant;
    });
    return { outcome, uploadGrant };
  }

  completeTask(request: CompleteTaskRequest, signal: AbortSignal): Promise<ReportOutcome> {
    return this.send('CompleteTask', request, signal, () => this.client.completeTask(request, { signal }));
  }

  /**
   * A progress report (pulling the image, outputs stored), for the task's
   * events. Best effort: one attempt with a short deadline; a failure is
   * logged, never retried or thrown, as the task goes on either way.
   */
  async reportProgress(request: ReportProgressRequest, signal: AbortSignal): Promise<void> {
    try {
      await this.client.reportProgress(request, { signal: AbortSignal.any([signal, AbortSignal.timeout(PROGRESS_DEADLINE_MS)]) });
    } catch (err) {
      this.log.warn(
        { taskId: request.taskId, assignmentId: request.assignmentId, progress: TaskProgress[request.progress], err },
        'progress report not delivered',
      );
    }
  }

  private async send(
    method: string,
    ids: { taskId: string; assignmentId: string },
    signal: AbortSignal,
    call: () => Promise<unknown>,
  ): Promise<ReportOutcome> {
    const ctx = { method, taskId: ids.taskId, assignmentId: ids.assignmentId };
    try {
      // A result must survive a master that is restarting or slow, so
      // transient failures are retried for as long as the reporting lifetime
      // lasts; every report is idempotent on the master (fenced by assignment id).
      await withRetry(call, {
        signal,
        retryable: isTransient,
        initialDelayMs: this.options.initialDelayMs ?? 200,
        maxDelayMs: this.options.maxDelayMs ?? 5_000,
        onRetry: (err, attempt, delayMs) =>
          this.log.warn({ ...ctx, attempt, delayMs, err }, 'master unavailable; retrying the report'),
      });
      return 'accepted';
    } catch (err) {
      if (isStale(err)) {
        this.log.info({ ...ctx, err }, 'master says the assignment is stale; dropping it');
        return 'stale';
      }
      if (signal.aborted) throw err;
      this.log.error({ ...ctx, err }, 'master rejected the report');
      return 'rejected';
    }
  }
}
