import {
  FAILURE_CLASSES_BY_STATUS,
  TASK_STATUSES,
  WORKER_STATES,
  failureClassOf,
  isTerminal,
  subtractUnits,
  type ResourceUnits,
  type TaskTransition,
  type WorkerState,
} from '@cloudai/domain';
import { cachedRead } from '@cloudai/metrics';
import type { Store, TaskRecord, WorkerRecord } from '@cloudai/store';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Change, MasterEvents } from './events.js';

/** How long one read of the store answers every scrape: a scrape storm costs it one query per second. */
const STORE_READ_TTL_MS = 1_000;

/** Seconds, from a fast local start (~0.1 s) to tasks that run or wait for a day. */
const PHASE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400];

/** The phases of a task's life that cloudai_task_phase_seconds times. */
export const TASK_PHASES = ['queued', 'starting', 'running', 'uploading'] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];

/** Resources in the units the metrics report them in. */
const RESOURCES: ReadonlyArray<readonly [label: string, toBase: (u: ResourceUnits) => number]> = [
  ['cpu', (u) => u.cpuMillis / 1000],
  ['memory_bytes', (u) => u.memoryMb * 2 ** 20],
  ['storage_bytes', (u) => u.storageMb * 2 ** 20],
  ['gpu', (u) => u.gpu],
];

/** Workers whose capacity counts: those that may hold tasks. */
const SERVING: readonly WorkerState[] = ['ALIVE', 'DRAINING'];

/**
 * The master's metrics. Counters and the phase histogram follow the change
 * channel, so they count what this master did; the gauges (tasks by status,
 * workers, capacity) are read from the store at scrape time, so every
 * master of a cluster reports the same cluster-wide values.
 */
export class MasterMetrics {
  private readonly submitted: Counter;
  private readonly finished: Counter<'status' | 'failure_class'>;
  private readonly phases: Histogram<'phase'>;
  private readonly logBytes: Counter;
  private readonly logDroppedBytes: Counter;

  constructor(registry: Registry, store: Store, events: MasterEvents, signal: AbortSignal) {
    const registers = [registry];
    this.submitted = new Counter({ name: 'cloudai_tasks_submitted_total', help: 'Tasks submitted (created)', registers });
    this.finished = new Counter({
      name: 'cloudai_tasks_finished_total',
      help: 'Tasks that ended, by status and why (failure_class: none, exit_code, oom, timeout, cancelled, worker_lost, …)',
      labelNames: ['status', 'failure_class'],
      registers,
    });
    // Every pair exists from the start, so increase() sees a task's first end.
    for (const [status, classes] of Object.entries(FAILURE_CLASSES_BY_STATUS)) {
      for (const failureClass of classes) this.finished.inc({ status, failure_class: failureClass }, 0);
    }
    this.phases = new Histogram({
      name: 'cloudai_task_phase_seconds',
      help:
        'How long tasks spent in each phase, observed when the phase ends normally: queued (queued → placed), ' +
        'starting (placed → container started: pull, create, start), running (started → container exited), ' +
        'uploading (outputs to storage → result)',
      labelNames: ['phase'],
      buckets: PHASE_BUCKETS,
      registers,
    });
    for (const phase of TASK_PHASES) this.phases.zero({ phase });
    this.logBytes = new Counter({ name: 'cloudai_log_bytes_total', help: 'Task log bytes stored', registers });
    this.logDroppedBytes = new Counter({
      name: 'cloudai_log_dropped_bytes_total',
      help: "Task log bytes dropped: over the per-task cap, or by a worker's full buffer",
      registers,
    });

    const read = cachedRead(async () => {
      const [tasks, workers] = await Promise.all([store.countTasksByStatus(), store.listWorkers()]);
      return { tasks, workers };
    }, STORE_READ_TTL_MS);
    new Gauge({
      name: 'cloudai_tasks',
      help: 'Tasks in each status now (QUEUED is the queue depth)',
      labelNames: ['status'],
      registers,
      async collect() {
        const { tasks } = await read();
        for (const status of TASK_STATUSES) this.set({ status }, tasks[status] ?? 0);
      },
    });
    new Gauge({
      name: 'cloudai_workers',
      help: 'Registered workers in each state now',
      labelNames: ['state'],
      registers,
      async collect() {
        const { workers } = await read();
        for (const state of WORKER_STATES) this.set({ state }, workers.filter((w) => w.state === state).length);
      },
    });
    new Gauge({
      name: 'cloudai_worker_capacity',
      help: 'What ALIVE and DRAINING workers offer, summed (cpu in cores, memory_bytes, storage_bytes, gpu)',
      labelNames: ['resource'],
      registers,
      async collect() {
        setResources(this, (await read()).workers, (w) => w.capacity);
      },
    });
    new Gauge({
      name: 'cloudai_worker_allocated',
      help: 'What tasks hold on ALIVE and DRAINING workers, summed (cpu in cores, memory_bytes, storage_bytes, gpu)',
      labelNames: ['resource'],
      registers,
      async collect() {
        setResources(this, (await read()).workers, (w) => subtractUnits(w.capacity, w.free));
      },
    });

    events.subscribe((change) => this.count(change), signal);
  }

  private count(change: Change): void {
    if (change.kind === 'logs') {
      this.logBytes.inc(change.storedBytes);
      this.logDroppedBytes.inc(change.droppedBytes);
      return;
    }
    if (change.kind !== 'task') return;
    const task = change.task;
    if (change.transition === undefined) this.submitted.inc();
    const ended = phaseEnded(change.transition, task);
    if (ended && ended.seconds >= 0) this.phases.observe({ phase: ended.phase }, ended.seconds);
    if (isTerminal(task.status)) {
      this.finished.inc({ status: task.status, failure_class: failureClassOf(task) ?? 'unknown' });
    }
  }
}

/**
 * The phase a move ended, and how long it took, from the task's own
 * timestamps. Only a phase ended by the move that normally follows it is
 * observed: time spent before a cancel, a retry or a lost worker says
 * nothing about how long the phase takes.
 */
function phaseEnded(transition: TaskTransition | undefined, task: TaskRecord): { phase: TaskPhase; seconds: number } | undefined {
  const between = (from: Date | null, to: Date | null) => (from && to ? (to.getTime() - from.getTime()) / 1000 : undefined);
  const of = (phase: TaskPhase, seconds: number | undefined) => (seconds === undefined ? undefined : { phase, seconds });
  switch (transition) {
    case 'place':
      // Records from before queuedAt existed: their first stint in the queue began at submission.
      return of('queued', between(task.queuedAt ?? (task.attempt === 1 ? task.submittedAt : null), task.scheduledAt));
    case 'start':
      return of('starting', between(task.scheduledAt, task.startedAt));
    case 'upload':
      return of('running', between(task.startedAt, task.uploadingAt));
    case 'complete':
      return task.uploadingAt
        ? of('uploading', between(task.uploadingAt, task.finishedAt))
        : of('running', between(task.startedAt, task.finishedAt));
    default:
      return undefined;
  }
}

function setResources(gauge: Gauge<'resource'>, workers: WorkerRecord[], units: (w: WorkerRecord) => ResourceUnits): void {
  const serving = workers.filter((w) => SERVING.includes(w.state));
  for (const [resource, toBase] of RESOURCES) {
    gauge.set({ resource }, serving.reduce((sum, w) => sum + toBase(units(w)), 0));
  }
}
