import {
  ACTIVE_STATUSES,
  addUnits,
  RESOURCE_KEYS,
  sameUnits,
  subtractUnits,
  toUnits,
  ZERO_UNITS,
  type ResourceUnits,
} from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { invalidArgument, notFound } from '@cloudai/rpc';
import type { Store, TaskRecord, Usage, WorkerRecord } from '@cloudai/store';
import type { AssignmentDispatcher } from './assignment-dispatch.js';
import type { MasterEvents } from './events.js';
import type { TaskManager } from './task-manager.js';
import type { WorkerLink } from './worker-link.js';

export interface RunningReport {
  taskId: string;
  assignmentId: string;
}

export interface RegistrationInput {
  workerId: string;
  address: string;
  capacity: ResourceUnits;
  version: string;
  running: RunningReport[];
}

/** Task lists are read in pages this big; a worker holds far fewer. */
const PAGE = 10_000;
/**
 * How long an assignment may be on its way to a worker before the worker's
 * silence about it means it never arrived (e.g. the master died between
 * recording the placement and sending it).
 */
const ASSIGNMENT_DELIVERY_GRACE_MS = 30_000;

/**
 * Worker membership: registration, heartbeats, liveness and draining. A
 * worker's free capacity is recomputed from its tasks whenever it
 * registers; between registrations, heartbeats repair a reservation that no
 * task explains (see `checkReservations`).
 */
export class WorkerRegistry {
  /** Silence is only judged from here: a restarted master gives workers one TTL to reach it. */
  private readonly startedAt = Date.now();
  /** Per worker: how far its free units are from what its tasks leave free, and since when. */
  private readonly mismatches = new Map<string, { offset: ResourceUnits; since: number }>();

  constructor(
    private readonly store: Store,
    private readonly tasks: TaskManager,
    private readonly events: MasterEvents,
    private readonly link: WorkerLink,
    private readonly dispatcher: AssignmentDispatcher,
    private readonly log: Logger,
    /** How long free units must disagree, unchanged, with the worker's tasks before they are reset (WORKER_TTL_MS). */
    private readonly repairReservationsAfterMs: number,
  ) {}

  async register(input: RegistrationInput): Promise<{ stale: RunningReport[] }> {
    const previous = await this.store.getWorker(input.workerId);
    this.mismatches.delete(input.workerId); // registration recomputes free units itself
    if (previous && previous.address !== input.address) this.link.forget(previous.address);

    const reported = new Set(input.running.map((r) => r.assignmentId));
    const active = await this.activeTasksOn(input.workerId);
    const kept: TaskRecord[] = [];
    for (const task of active) {
      if (task.assignmentId && reported.has(task.assignmentId)) {
        kept.push(task);
      } else if (inDelivery(task, 5_000)) {
        // Its assignment may still be on the wire to the worker.
        kept.push(task);
      } else {
        await this.tasks.requeue(task, `worker ${input.workerId} restarted and no longer runs the task`);
      }
    }
    const current = new Set(kept.map((t) => t.assignmentId));
    const stale = input.running.filter((r) => !current.has(r.assignmentId));

    const previousState = previous?.state;
    const held = kept.reduce<ResourceUnits>((sum, t) => addUnits(sum, toUnits(t.resources)), { ...ZERO_UNITS });
    const free = subtractUnits(input.capacity, held);
    await this.store.registerWorker(
      {
        workerId: input.workerId,
        address: input.address,
        capacity: input.capacity,
        free,
        usage: { cpuPercent: 0, memoryUsedGb: 0, loadAverage1m: 0, runningContainers: input.running.length },
        version: input.version,
      },
      new Date(),
    );
    // An operator's drain outlives a restart of the worker process.
    if (previousState === 'DRAINING') await this.store.setWorkerState(input.workerId, ['ALIVE'], 'DRAINING');
    // A LOST worker registering again is its recovery.
    const again = previousState ? `registered again (was ${previousState})` : undefined;
    this.events.emit({ kind: 'worker', workerId: input.workerId, what: 'registered', reason: again });
    this.log.info(
      { workerId: input.workerId, address: input.address, capacity: input.capacity, running: kept.length, stale: stale.length },
      'worker registered',
    );
    return { stale };
  }

  /** Returns null when the worker must register again (unknown or LOST). */
  async heartbeat(workerId: string, usage: Usage, running: RunningReport[]): Promise<{ stale: RunningReport[] } | null> {
    const worker = await this.store.heartbeatWorker(workerId, usage, new Date(), ['ALIVE', 'DRAINING']);
    if (!worker) return null;
    const active = await this.activeTasksOn(workerId);
    const current = new Set(active.map((t) => t.assignmentId));
    const stale = running.filter((r) => !current.has(r.assignmentId));
    // The other direction: placed here, but the worker does not know it.
    const reported = new Set(running.map((r) => r.assignmentId));
    for (const task of active) {
      if (reported.has(task.assignmentId ?? '') || this.dispatcher.pending(task.assignmentId ?? '')) continue;
      if (inDelivery(task, ASSIGNMENT_DELIVERY_GRACE_MS)) continue;
      // It never got there (say, the master stopped while sending it): not an attempt of the task's.
      if (task.status === 'SCHEDULED') {
        await this.tasks.undeliver(task, `worker ${workerId} never received the task (its assignment was lost)`);
      } else {
        await this.tasks.requeue(task, `worker ${workerId} does not know the task (its assignment was lost)`);
      }
    }
    await this.checkReservations(worker, active);
    return { stale };
  }

  /**
   * A placement reserves the worker's units, then records the task; a master
   * that dies between the two leaves a reservation no task explains, and the
   * worker would look fuller than it is until it registers again (a master
   * dying between finishing a task and releasing its units does the
   * opposite). So each heartbeat compares free units with capacity minus the
   * active tasks. A placement or release in flight makes them differ for
   * milliseconds; a leak makes them differ by the same amount for good, while
   * tasks come and go. Only a difference that stayed the same for
   * `repairReservationsAfterMs` is repaired, by compare-and-set on the free
   * units just read, so a reserve or release landing meanwhile makes the
   * repair a no-op (it is judged again on later heartbeats).
   */
  private async checkReservations(worker: WorkerRecord, active: TaskRecord[]): Promise<void> {
    const held = active.reduce<ResourceUnits>((sum, t) => addUnits(sum, toUnits(t.resources)), { ...ZERO_UNITS });
    const expected = subtractUnits(worker.capacity, held);
    const offset = subtractUnits(worker.free, expected);
    const id = worker.workerId;
    if (sameUnits(offset, ZERO_UNITS) || RESOURCE_KEYS.some((k) => expected[k] < 0)) {
      this.mismatches.delete(id);
      return;
    }
    const seen = this.mismatches.get(id);
    if (!seen || !sameUnits(seen.offset, offset)) {
      this.mismatches.set(id, { offset, since: Date.now() });
      return;
    }
    if (Date.now() - seen.since < this.repairReservationsAfterMs) return;
    this.mismatches.delete(id);
    if (await this.store.resetWorkerFree(id, worker.free, expected)) {
      this.log.warn(
        { workerId: id, free: worker.free, expected, activeTasks: active.length },
        'reset free capacity that no task explained (a placement or release interrupted by a master crash?)',
      );
      this.events.emit({ kind: 'worker', workerId: id, what: 'repaired' });
    }
  }

  /** Marks silent workers LOST and takes their tasks back. Returns how many were lost. */
  async sweep(ttlMs: number): Promise<number> {
    if (Date.now() - this.startedAt < ttlMs) return 0;
    const silent = await this.store.listWorkersSilentSince(new Date(Date.now() - ttlMs), ['ALIVE', 'DRAINING']);
    let lost = 0;
    for (const w of silent) {
      const marked = await this.store.setWorkerState(w.workerId, ['ALIVE', 'DRAINING'], 'LOST');
      if (!marked) continue;
      lost++;
      this.mismatches.delete(w.workerId);
      this.log.warn({ workerId: w.workerId, lastHeartbeat: w.lastHeartbeat }, 'worker lost: no heartbeat');
      for (const task of await this.activeTasksOn(w.workerId)) {
        await this.tasks.requeue(task, `worker ${w.workerId} was lost (no heartbeat for ${Math.round(ttlMs / 1000)} s)`);
      }
      this.link.forget(w.address);
      this.events.emit({ kind: 'worker', workerId: w.workerId, what: 'lost', reason: `no heartbeat for ${Math.round(ttlMs / 1000)} s` });
    }
    return lost;
  }

  /** Drains a worker (or resumes it); `by` names the admin, for the event. */
  async drain(workerId: string, drain: boolean, by?: string): Promise<WorkerRecord> {
    if (!workerId) throw invalidArgument('worker_id is required');
    const updated = drain
      ? await this.store.setWorkerState(workerId, ['ALIVE', 'DRAINING'], 'DRAINING')
      : await this.store.setWorkerState(workerId, ['DRAINING', 'ALIVE'], 'ALIVE');
    if (!updated) {
      const worker = await this.store.getWorker(workerId);
      if (!worker) throw notFound(`worker ${workerId} is not registered`);
      throw invalidArgument(`worker ${workerId} is ${worker.state} and cannot be ${drain ? 'drained' : 'resumed'}`);
    }
    this.events.emit({ kind: 'worker', workerId, what: drain ? 'drained' : 'resumed', reason: by ? `by ${by}` : undefined });
    return updated;
  }

  async list(includeLost: boolean): Promise<{ worker: WorkerRecord; taskIds: string[] }[]> {
    const workers = await this.store.listWorkers(includeLost ? undefined : ['ALIVE', 'DRAINING']);
    const active = await this.store.listTasks({ statuses: ACTIVE_STATUSES, limit: PAGE });
    const byWorker = new Map<string, string[]>();
    for (const t of active) {
      if (!t.workerId) continue;
      const ids = byWorker.get(t.workerId) ?? [];
      ids.push(t.taskId);
      byWorker.set(t.workerId, ids);
    }
    return workers.map((worker) => ({ worker, taskIds: byWorker.get(worker.workerId) ?? [] }));
  }

  private activeTasksOn(workerId: string): Promise<TaskRecord[]> {
    return this.store.listTasks({ workerId, statuses: ACTIVE_STATUSES, limit: PAGE });
  }
}

/** True while a SCHEDULED task's assignment may still be on its way to the worker. */
function inDelivery(task: TaskRecord, graceMs: number): boolean {
  return task.status === 'SCHEDULED' && task.scheduledAt !== null && Date.now() - task.scheduledAt.getTime() < graceMs;
}
