import type { Logger } from '@cloudai/logger';
import type { Assignment } from '@cloudai/proto';
import { delay } from 'abort-controller-x';
import type { MasterEvents } from './events.js';
import type { WorkerLink } from './worker-link.js';

/**
 * How a delivery ended: the worker took the assignment; it refused it (its
 * answer is `error`); no answer came within the delivery window, so it
 * cannot have started the task; or the master dropped it first (the task
 * moved on, or the master is stopping).
 */
export type Delivery =
  | { kind: 'delivered' }
  | { kind: 'refused'; error: unknown }
  | { kind: 'undelivered'; error: unknown }
  | { kind: 'dropped' };

export interface DispatchOptions {
  /** AssignTask calls in flight per worker address; the rest wait their turn */
  maxInFlightPerWorker: number;
  /** deadline of one AssignTask call, counted from when it is sent, not queued */
  callDeadlineMs: number;
  /** how long unanswered sends are retried before the assignment counts as undelivered */
  deliveryWindowMs: number;
  /** after an undelivered assignment, how long the worker gets no new placements */
  unreachableForMs: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
}

export const DEFAULT_DISPATCH: DispatchOptions = {
  maxInFlightPerWorker: 32,
  callDeadlineMs: 5_000,
  deliveryWindowMs: 20_000,
  unreachableForMs: 30_000,
  retryInitialDelayMs: 100,
  retryMaxDelayMs: 2_000,
};

interface Job {
  assignment: Assignment;
  /** aborted when the master drops the delivery */
  readonly controller: AbortController;
  resolve(delivery: Delivery): void;
}

interface Lane {
  queue: Job[];
  inFlight: number;
}

/**
 * Sends assignments to workers in the background. Each worker address gets
 * a bounded number of calls in flight, so a burst of thousands of
 * placements does not open thousands of HTTP/2 streams on one connection at
 * once (which broke the connection and timed calls out while they were only
 * queued). A send that gets no answer is retried with backoff, with the same
 * assignment id: a worker that already has it answers as for a duplicate.
 * A worker that never answers within the window is marked unreachable for a
 * while, so the placements that would follow are not wasted on it.
 */
export class AssignmentDispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly jobs = new Map<string, Job>();
  private readonly unreachableUntil = new Map<string, number>();
  private readonly settled = new Set<Promise<unknown>>();
  private readonly stopping = new AbortController();
  private readonly log: Logger;

  constructor(
    private readonly link: WorkerLink,
    events: MasterEvents,
    logger: Logger,
    private readonly options: DispatchOptions = DEFAULT_DISPATCH,
  ) {
    this.log = logger.child({ component: 'dispatch' });
    // An assignment whose task left it (cancelled, lost worker, …) is no longer worth sending.
    events.subscribe((change) => {
      if (change.kind === 'task' && change.endedAssignmentId) this.drop(change.endedAssignmentId);
    }, this.stopping.signal);
  }

  /**
   * Queues `assignment` for the worker at `address`; `onDelivery` runs once
   * with the outcome and is awaited by `stop()`.
   */
  send(address: string, assignment: Assignment, onDelivery: (delivery: Delivery) => Promise<void>): void {
    if (this.stopping.signal.aborted) {
      this.track(onDelivery({ kind: 'dropped' }));
      return;
    }
    const outcome = new Promise<Delivery>((resolve) => {
      const job: Job = { assignment, controller: new AbortController(), resolve };
      this.jobs.set(assignment.assignmentId, job);
      const lane = this.laneFor(address);
      lane.queue.push(job);
      this.pump(address, lane);
    });
    this.track(outcome.then(onDelivery));
  }

  /** True while the assignment waits for its turn or is being sent. */
  pending(assignmentId: string): boolean {
    return this.jobs.has(assignmentId);
  }

  /** False for a while after a worker at `address` left an assignment unanswered. */
  isReachable(address: string): boolean {
    const until = this.unreachableUntil.get(address);
    if (until === undefined) return true;
    if (Date.now() < until) return false;
    this.unreachableUntil.delete(address);
    return true;
  }

  /** Stops sending `assignmentId`: a queued one is never sent, one in flight is cancelled. */
  drop(assignmentId: string): void {
    const job = this.jobs.get(assignmentId);
    if (!job) return;
    this.jobs.delete(assignmentId);
    job.controller.abort();
    job.resolve({ kind: 'dropped' });
  }

  /**
   * Drops every delivery not yet answered and waits for every outcome
   * handler to finish, so nothing writes to the store after the master closes it.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const id of [...this.jobs.keys()]) this.drop(id);
    while (this.settled.size > 0) await Promise.all(this.settled);
  }

  private laneFor(address: string): Lane {
    let lane = this.lanes.get(address);
    if (!lane) {
      lane = { queue: [], inFlight: 0 };
      this.lanes.set(address, lane);
    }
    return lane;
  }

  private pump(address: string, lane: Lane): void {
    while (lane.inFlight < this.options.maxInFlightPerWorker) {
      const job = lane.queue.shift();
      if (!job) break;
      if (job.controller.signal.aborted) continue;
      lane.inFlight++;
      void this.deliver(address, job).then((delivery) => {
        lane.inFlight--;
        if (this.jobs.get(job.assignment.assignmentId) === job) this.jobs.delete(job.assignment.assignmentId);
        job.resolve(delivery);
        if (delivery.kind === 'undelivered') this.giveUpOn(address, lane);
        if (lane.inFlight === 0 && lane.queue.length === 0) this.lanes.delete(address);
        else this.pump(address, lane);
      });
    }
  }

  private async deliver(address: string, job: Job): Promise<Delivery> {
    const signal = job.controller.signal;
    const giveUpAt = Date.now() + this.options.deliveryWindowMs;
    let wait = this.options.retryInitialDelayMs;
    for (let attempt = 1; ; attempt++) {
      const result = await this.link.assign(address, job.assignment, { signal, deadlineMs: this.options.callDeadlineMs });
      if (signal.aborted) return { kind: 'dropped' };
      if (result.ok) {
        this.unreachableUntil.delete(address);
        return { kind: 'delivered' };
      }
      if (result.answered) return { kind: 'refused', error: result.error };
      if (Date.now() + wait >= giveUpAt) return { kind: 'undelivered', error: result.error };
      if (attempt === 1) {
        this.log.debug({ err: result.error, address, assignmentId: job.assignment.assignmentId }, 'worker did not answer; resending');
      }
      try {
        await delay(signal, Math.round(wait / 2 + Math.random() * (wait / 2)));
      } catch {
        return { kind: 'dropped' };
      }
      wait = Math.min(this.options.retryMaxDelayMs, wait * 2);
    }
  }

  /** The worker is unreachable: what still waits for it would fail the same way, so it fails now. */
  private giveUpOn(address: string, lane: Lane): void {
    if (this.isReachable(address)) {
      this.log.warn({ address, forMs: this.options.unreachableForMs }, 'worker does not answer; no new placements on it for a while');
    }
    this.unreachableUntil.set(address, Date.now() + this.options.unreachableForMs);
    for (const job of lane.queue.splice(0)) {
      this.jobs.delete(job.assignment.assignmentId);
      job.resolve({ kind: 'undelivered', error: new Error(`worker at ${address} does not answer`) });
    }
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((err: unknown) => this.log.error({ err }, 'handling an assignment delivery failed'));
    this.settled.add(tracked);
    void tracked.finally(() => this.settled.delete(tracked));
  }
}
