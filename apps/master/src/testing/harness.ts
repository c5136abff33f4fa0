import { createLogger, type Logger } from '@cloudai/logger';
import {
  ClusterServiceDefinition,
  SchedulerServiceDefinition,
  TaskServiceDefinition,
  TaskStatus,
  WorkerServiceDefinition,
  type AssignTaskRequest,
  type CompleteTaskRequest,
  type Resources,
  type RunningAssignment,
  type Task,
  type TaskSpec,
  type WorkerCancelTaskRequest,
} from '@cloudai/proto';
import { connect, markAnsweredBy, type ServiceClient } from '@cloudai/rpc';
import { tempDir, waitFor, type TempDir } from '@cloudai/testing';
import { createServer, Metadata, ServerError, Status, type Server } from 'nice-grpc';
import { afterEach } from 'vitest';
import { Env } from '../env.js';
import { Master } from '../master.js';

const logger = createLogger({ name: 'master-test', level: 'silent' });

/** A real Master on 127.0.0.1:0 over a SQLite file in its own temp dir, with one client per service. */
export interface TestMaster {
  master: Master;
  dataDir: TempDir;
  tasks: ServiceClient<typeof TaskServiceDefinition>['client'];
  cluster: ServiceClient<typeof ClusterServiceDefinition>['client'];
  scheduler: ServiceClient<typeof SchedulerServiceDefinition>['client'];
  /** A second scheduler connection, as a second scheduler process would have. */
  scheduler2: ServiceClient<typeof SchedulerServiceDefinition>['client'];
  /** Stops the master and closes the clients; keeps the data dir. */
  stop(): Promise<void>;
  /** stop() and remove the data dir. */
  close(): Promise<void>;
}

export async function startMaster(
  env: Record<string, string> = {},
  dataDir?: TempDir,
  tuning: ConstructorParameters<typeof Master>[2] = {},
  log: Logger = logger,
): Promise<TestMaster> {
  const dir = dataDir ?? (await tempDir('cloudai-master-test-'));
  const master = new Master(
    Env.parse({ LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_DATA_DIR: dir.path, LOG_LEVEL: 'silent', ...env }),
    log,
    tuning,
  );
  await master.start();
  const conns = [
    connect(TaskServiceDefinition, master.address),
    connect(ClusterServiceDefinition, master.address),
    connect(SchedulerServiceDefinition, master.address),
    connect(SchedulerServiceDefinition, master.address),
  ] as const;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of conns) c.close();
    await master.stop();
  };
  return {
    master,
    dataDir: dir,
    tasks: conns[0].client,
    cluster: conns[1].client,
    scheduler: conns[2].client,
    scheduler2: conns[3].client,
    stop,
    async close() {
      await stop();
      await dir.remove();
    },
  };
}

/** Call options that act as `user` (the master trusts the x-cloudai-user metadata for now). */
export function as(user: string) {
  return { metadata: Metadata({ 'x-cloudai-user': user }) };
}

export function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    image: 'alpine:3.20',
    command: ['echo', 'hi'],
    env: {},
    resources: undefined,
    taskName: '',
    timeoutSeconds: 0,
    network: false,
    ...overrides,
  };
}

export const cpus = (cpu: number): Resources => ({ cpu });

/**
 * Plays a worker: a real nice-grpc WorkerService that records what the
 * master sends it and accepts, or refuses with a chosen status.
 */
export class FakeWorker {
  readonly assigned: AssignTaskRequest[] = [];
  readonly cancelled: WorkerCancelTaskRequest[] = [];
  /** When set, AssignTask fails with this status and message. */
  refuse: { code: Status; message: string } | undefined;
  /** When set, runs before each AssignTask is answered (to delay it, say). */
  beforeAnswer: ((req: AssignTaskRequest) => Promise<void>) | undefined;
  /** AssignTask calls being handled now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;
  private heartbeatTimer?: NodeJS.Timeout;

  private constructor(
    readonly workerId: string,
    readonly address: string,
    private readonly server: Server,
  ) {}

  static async start(workerId: string): Promise<FakeWorker> {
    const server = createServer();
    // The handlers are added before the worker exists (its address comes from listen).
    const ref: { worker?: FakeWorker } = {};
    server.add(WorkerServiceDefinition, {
      async assignTask(req, context) {
        const w = ref.worker!;
        markAnsweredBy(context, w.workerId);
        w.maxInFlight = Math.max(w.maxInFlight, ++w.inFlight);
        try {
          await w.beforeAnswer?.(req);
          if (w.refuse) throw new ServerError(w.refuse.code, w.refuse.message);
          w.assigned.push(req);
          return { accepted: true };
        } finally {
          w.inFlight--;
        }
      },
      async cancelTask(req) {
        ref.worker!.cancelled.push(req);
        return { found: true };
      },
    });
    const port = await server.listen('127.0.0.1:0');
    ref.worker = new FakeWorker(workerId, `127.0.0.1:${port}`, server);
    return ref.worker;
  }

  register(
    m: TestMaster,
    capacity: Resources = { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 0 },
    running: RunningAssignment[] = [],
  ) {
    return m.cluster.registerWorker({ workerId: this.workerId, address: this.address, capacity, running, version: '0.0.0-test' });
  }

  /** What a real worker reports running: every assignment received and not cancelled. */
  running(): RunningAssignment[] {
    const cancelled = new Set(this.cancelled.map((c) => c.assignmentId));
    return this.assigned
      .map((a) => ({ taskId: a.assignment?.taskId ?? '', assignmentId: a.assignment?.assignmentId ?? '' }))
      .filter((r) => r.assignmentId && !cancelled.has(r.assignmentId));
  }

  /** Heartbeats every `everyMs` until stopHeartbeats(), as a live worker does. */
  startHeartbeats(m: TestMaster, everyMs: number): void {
    this.heartbeatTimer = setInterval(() => {
      m.cluster.heartbeat({ workerId: this.workerId, running: this.running() }).catch(() => undefined);
    }, everyMs);
  }

  stopHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
  }

  assignmentFor(taskId: string): AssignTaskRequest | undefined {
    return this.assigned.find((a) => a.assignment?.taskId === taskId);
  }

  async stop(): Promise<void> {
    this.stopHeartbeats();
    await this.server.shutdown();
  }
}

/** What a test started, stopped after it: the last started first. */
export interface Started {
  /**
   * startMaster(), closed after the test. One started on a data dir it was
   * given is only stopped: the master that made the dir removes it.
   */
  master(...args: Parameters<typeof startMaster>): Promise<TestMaster>;
  /** A FakeWorker that has not registered yet. */
  worker(id?: string): Promise<FakeWorker>;
  /** A FakeWorker registered with `m`. */
  registeredWorker(m: TestMaster, id?: string, capacity?: Resources): Promise<FakeWorker>;
  /** Runs `cleanup` after the test, before anything started earlier is stopped. */
  defer(cleanup: () => unknown): void;
}

/** Registers an afterEach that stops every master and worker the test started through the returned functions. */
export function useMasters(): Started {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    // Every step runs even when one fails: a master left running would hold its port and files into the next test.
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'stopping what the test started failed');
  });
  const worker = async (id = 'w1') => {
    const w = await FakeWorker.start(id);
    cleanups.push(() => w.stop());
    return w;
  };
  return {
    async master(env, dataDir, tuning, log) {
      const m = await startMaster(env, dataDir, tuning, log);
      cleanups.push(dataDir ? () => m.stop() : () => m.close());
      return m;
    },
    worker,
    async registeredWorker(m, id, capacity) {
      const w = await worker(id);
      await w.register(m, capacity);
      return w;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}

/** A CompleteTask report from w1 for one attempt: SUCCEEDED with exit code 0 and no outputs unless `overrides` say otherwise. */
export function completion(taskId: string, assignmentId: string, overrides: Partial<CompleteTaskRequest> = {}): CompleteTaskRequest {
  const status = overrides.status ?? TaskStatus.TASK_STATUS_SUCCEEDED;
  const exitCode = overrides.exitCode ?? 0;
  return {
    taskId,
    assignmentId,
    workerId: 'w1',
    status,
    exitCode,
    reason: status === TaskStatus.TASK_STATUS_SUCCEEDED ? '' : `exit code ${exitCode}`,
    outputFiles: [],
    outputBytes: 0,
    ...overrides,
  };
}

export async function submit(m: TestMaster, overrides: Partial<TaskSpec> = {}, user?: string): Promise<Task> {
  const { task } = await m.tasks.submitTask({ spec: spec(overrides), idempotencyKey: '' }, user ? as(user) : {});
  return task!;
}

export async function getTask(m: TestMaster, taskId: string, user?: string): Promise<Task> {
  const { task } = await m.tasks.getTask({ taskId }, user ? as(user) : {});
  return task!;
}

export function waitForStatus(m: TestMaster, taskId: string, status: TaskStatus): Promise<Task> {
  return waitFor(
    async () => {
      const t = await getTask(m, taskId);
      return t.status === status ? t : undefined;
    },
    { what: `task ${taskId} to be ${TaskStatus[status]}` },
  );
}

/** Commits one placement and returns its result. */
export async function place(m: TestMaster, taskId: string, workerId: string) {
  const { results } = await m.scheduler.commitPlacements({ placements: [{ taskId, workerId }], unplaced: [] });
  return results[0]!;
}

/** Places a task, waits for the worker to get it, and reports RUNNING: the usual way to get a running task. */
export async function startRunning(m: TestMaster, w: FakeWorker, taskId: string): Promise<string> {
  const r = await place(m, taskId, w.workerId);
  if (!r.committed) throw new Error(`placement of ${taskId} was skipped: ${r.reason}`);
  await waitFor(() => w.assignmentFor(taskId), { what: `assignment of ${taskId}` });
  await m.cluster.reportTaskStatus({
    taskId,
    assignmentId: r.assignmentId,
    status: TaskStatus.TASK_STATUS_RUNNING,
    reason: '',
    containerId: 'c1',
  });
  return r.assignmentId;
}

export async function workerView(m: TestMaster, workerId: string) {
  const { workers } = await m.tasks.listWorkers({ includeLost: true });
  return workers.find((w) => w.workerId === workerId);
}

export { Status, TaskStatus };
