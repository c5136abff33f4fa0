import type { Logger } from '@cloudai/logger';
import { WorkerServiceDefinition, type Assignment } from '@cloudai/proto';
import { bearer, workerAudience } from '@cloudai/auth';
import { ANSWERED_BY_TRAILER, connect, type ClientTls, type ServiceClient } from '@cloudai/rpc';
import { Metadata } from 'nice-grpc';
import type { MasterCredentials } from './auth/credentials.js';

/**
 * How one AssignTask call ended. `answered` tells a refusal by the worker
 * (its reply carries the ANSWERED_BY trailer) from a call that may never
 * have reached it (a broken connection, a deadline, a refused stream).
 */
export type AssignResult = { ok: true } | { ok: false; error: unknown; answered: boolean };

/**
 * The master's outbound calls to workers, one channel per worker address.
 * Every call carries the master's assertion for that worker, which is how a
 * worker tells the master from anyone else who can reach its port.
 */
export class WorkerLink {
  private readonly clients = new Map<string, ServiceClient<typeof WorkerServiceDefinition>>();

  constructor(
    private readonly credentials: MasterCredentials,
    private readonly log: Logger,
    /** how workers' servers are verified; plaintext when unset */
    private readonly tls?: ClientTls,
  ) {}

  private asMaster(workerId: string): Metadata {
    return Metadata({ authorization: bearer(this.credentials.assertionFor(workerAudience(workerId))) });
  }

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
          metadata: this.asMaster(assignment.workerId),
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
  async cancel(worker: { workerId: string; address: string }, taskId: string, assignmentId: string, reason: string): Promise<void> {
    const { workerId, address } = worker;
    try {
      await this.clientFor(address).cancelTask({ taskId, assignmentId, reason }, { metadata: this.asMaster(workerId) });
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
