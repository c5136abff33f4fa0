import type { Assignment } from '@cloudai/proto';
import { WorkerServiceDefinition } from '@cloudai/proto';
import { connect, type ServiceClient } from '@cloudai/rpc';
import type { Logger } from '@cloudai/logger';

/** The master's outbound calls to workers, one channel per worker address. */
export class WorkerLink {
  private readonly clients = new Map<string, ServiceClient<typeof WorkerServiceDefinition>>();

  constructor(private readonly log: Logger) {}

  private clientFor(address: string) {
    let c = this.clients.get(address);
    if (!c) {
      c = connect(WorkerServiceDefinition, address, { defaultDeadlineMs: 5_000 });
      this.clients.set(address, c);
    }
    return c.client;
  }

  /** Sends an assignment; resolves when the worker has accepted it. */
  async assign(address: string, assignment: Assignment, signal?: AbortSignal): Promise<void> {
    const res = await this.clientFor(address).assignTask({ assignment }, { signal });
    if (!res.accepted) throw new Error(`worker at ${address} did not accept the assignment`);
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
