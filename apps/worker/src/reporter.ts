import type { Logger } from '@cloudai/logger';
import type { ClusterServiceDefinition, CompleteTaskRequest, ReportTaskStatusRequest } from '@cloudai/proto';
import { ClientError, Status, withRetry } from '@cloudai/rpc';
import type { Client } from 'nice-grpc';

export type ClusterClient = Client<typeof ClusterServiceDefinition>;

/**
 * How the master answered a report: `accepted`; `stale` when the assignment
 * is no longer current (FAILED_PRECONDITION / NOT_FOUND), so the worker
 * drops it; `rejected` when the master refused it for another reason that
 * resending cannot fix.
 */
export type ReportOutcome = 'accepted' | 'stale' | 'rejected';

export interface ReporterOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
}

// Transient: the master is restarting, overloaded or slow. A result must
// survive those, so these are retried for as long as the reporting lifetime
// lasts; every report is idempotent on the master (fenced by assignment id).
const TRANSIENT = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.ABORTED, Status.RESOURCE_EXHAUSTED]);

/** True for errors worth resending the same idempotent call for. */
export function isTransient(err: unknown): boolean {
  return err instanceof ClientError && TRANSIENT.has(err.code);
}

/** True when the master no longer considers the assignment current. */
export function isStale(err: unknown): boolean {
  return err instanceof ClientError && (err.code === Status.FAILED_PRECONDITION || err.code === Status.NOT_FOUND);
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

  completeTask(request: CompleteTaskRequest, signal: AbortSignal): Promise<ReportOutcome> {
    return this.send('CompleteTask', request, signal, () => this.client.completeTask(request, { signal }));
  }

  private async send(
    method: string,
    ids: { taskId: string; assignmentId: string },
    signal: AbortSignal,
    call: () => Promise<unknown>,
  ): Promise<ReportOutcome> {
    const ctx = { method, taskId: ids.taskId, assignmentId: ids.assignmentId };
    try {
      await withRetry(call, {
        signal,
        retryable: isTransient,
        initialDelayMs: this.options.initialDelayMs ?? 200,
        maxDelayMs: this.options.maxDelayMs ?? 5_000,
        onRetry: (err, attempt, delayMs) =>
          this.log.warn({ ...ctx, attempt, delayMs, err: describe(err) }, 'master unavailable; retrying the report'),
      });
      return 'accepted';
    } catch (err) {
      if (isStale(err)) {
        this.log.info({ ...ctx, reason: describe(err) }, 'master says the assignment is stale; dropping it');
        return 'stale';
      }
      if (signal.aborted) throw err;
      this.log.error({ ...ctx, err }, 'master rejected the report');
      return 'rejected';
    }
  }
}

/** `CODE: details` for gRPC errors, the message otherwise: short enough for one log field. */
export function describe(err: unknown): string {
  return err instanceof ClientError ? `${Status[err.code]}: ${err.details}` : String(err);
}
