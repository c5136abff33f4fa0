import type { Logger } from '@cloudai/logger';
import { WorkerServiceDefinition, type Assignment } from '@cloudai/proto';
import { ANSWERED_BY_TRAILER, connect, type ClientTls, type ServiceClient } from '@cloudai/rpc';

/**
 * How one AssignTask call ended. `answered` tells a refusal by the worker
 * (its reply carries the ANSWERED_BY trailer) from a call that may never
 * have reached it (a broken connection, a deadline, a refused stream).
 */
export type AssignResult = { ok: true } | { ok: false; error: unknown; answered: boolean };

/** The master's outbound calls to workers, one channel per worker address. */
export class WorkerLink {
  private readonly clients = new Map<string, ServiceClient<typeof WorkerServiceDefinition>>();

  constructor(
    private readonly log: Logger,
    /** how workers' servers are verified; plaintext when unset */
    private readonly tls?: ClientTls,
  ) {}

  private clientFor(address: string) {
    let c = this.clients.get(address);
    if (!c) {
      c = connect(WorkerServiceDefinition, address, { defaultDeadlineMs: 5_000, tls: this.tls });
      this.clients.set(address, c);
    }
    return c.client;
  }

  /** Sends an assignment once; the worker accepts an assignment id it already has as a duplicate, so resending is safe. */
  async assign(address: string, assignment: Assignment, options: { signal: AbortSignal; deadlineMs: number }): Promise<AssignResult> {
    let answered = false;
    try {
      const res = await this.clientFor(address).assignTask(
        { assignment },
        {
          signal: options.signal,
          deadline: options.deadlineMs,
          onTrailer: (trailer) => (answered = trailer.has(ANSWERED_BY_TRAILER)),
        },
      );
      if (!res.accepted) return { ok: false, answered: true, error: new Error(`worker at ${address} did not accept the assignment`) };
      return { ok: true };
    } catch (error) {
      return { ok: false, error, answered };
    }
  }

  /** Asks a worker to stop a task; failures are logged, since the master's record already says CANCELLED. */
  async cancel(address: string, taskId: string, assignmentId: string, reason: string): Promise<void> {
    try {
      await this.clientFor(address).cancelTask({ taskId, assignmentId, reason });
    } catch (err) {
      this.log.warn({ err, address, taskId, assignmentId }, 'could not tell the worker to stop a task');
    }
  }

  /** Drops the channel of a worker that re-registered elsewhere or was lost. */
  forget(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
