import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueWorkerCredential, loadOrCreateSigningKey, type SigningKey } from '@cloudai/auth';
import { createLogger, type Logger } from '@cloudai/logger';
import {
  ClusterServiceDefinition,
  EventServiceDefinition,
  IdentityServiceDefinition,
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

/** Users every test master has, each with a token (plus `admin`, whom the master bootstraps). */
export const TEST_USERS = ['default', 'alice', 'bob', 'mallory'] as const;
export type TestUser = (typeof TEST_USERS)[number] | 'admin';

/**
 * A real Master on 127.0.0.1:0 over a SQLite file in its own temp dir, with
 * one client per service, each carrying the credential its API takes.
 */
export interface TestMaster {
  master: Master;
  dataDir: TempDir;
  /** as user `default`; pass `m.as(user)` as call options to act as another */
  tasks: ServiceClient<typeof TaskServiceDefinition>['client'];
  /** as the admin, unless the call passes `m.as(user)` */
  identity: ServiceClient<typeof IdentityServiceDefinition>['client'];
  /** as the admin, unless the call passes `m.as(user)` */
  events: ServiceClient<typeof EventServiceDefinition>['client'];
  /** RegisterWorker with the join secret, every other call as worker `w1` (see clusterAs) */
  cluster: ServiceClient<typeof ClusterServiceDefinition>['client'];
  /** with the cluster's join secret */
  scheduler: ServiceClient<typeof SchedulerServiceDefinition>['client'];
  /** A second scheduler connection, as a second scheduler process would have. */
  scheduler2: ServiceClient<typeof SchedulerServiceDefinition>['client'];
  /** The cluster API as worker `workerId`, with a credential the master's key signed for it. */
  clusterAs(workerId: string): ServiceClient<typeof ClusterServiceDefinition>['client'];
  /** Call options acting as `user`, with that user's token. */
  as(user: TestUser): { metadata: Metadata };
  /** each test user's API token */
  tokens: Record<TestUser, string>;
  joinSecret: string;
  /** the master's signing key, read from its data dir */
  signingKey: SigningKey;
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
    // No metrics unless a test asks: masters of parallel tests would all want the default port.
    Env.parse({ LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_DATA_DIR: dir.path, LOG_LEVEL: 'silent', METRICS_ADDR: 'off', ...env }),
    log,
    tuning,
  );
  await master.start();
  const secrets = join(dir.path, 'master');
  const joinSecret = (await readFile(join(secrets, 'join-token'), 'utf8')).trim();
  const { value: signingKey } = await loadOrCreateSigningKey(join(secrets, 'signing-key.pem'));
  const tokens = await userTokens(master.address, dir.path);
  const conns: { close(): void }[] = [];
  const open = <D extends Parameters<typeof connect>[0]>(definition: D, bearer: () => string) => {
    const c = connect(definition, master.address, { bearer });
    conns.push(c);
    return c.client as ServiceClient<D>['client'];
  };
  const workerClients = new Map<string, ServiceClient<typeof ClusterServiceDefinition>['client']>();
  const clusterAs = (workerId: string) => {
    let client = workerClients.get(workerId);
    if (!client) {
      const credential = issueWorkerCredential(signingKey, workerId);
      client = open(ClusterServiceDefinition, () => credential);
      workerClients.set(workerId, client);
    }
    return client;
  };
  const w1 = clusterAs('w1');
  const joining = open(ClusterServiceDefinition, () => joinSecret);
  // Registration takes the join secret; everything else, w1's credential.
  const cluster = new Proxy(w1, {
    get: (target, name, receiver) => (name === 'registerWorker' ? joining.registerWorker : Reflect.get(target, name, receiver)),
  });
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
    tasks: open(TaskServiceDefinition, () => tokens.default),
    identity: open(IdentityServiceDefinition, () => tokens.admin),
    events: open(EventServiceDefinition, () => tokens.admin),
    cluster,
    scheduler: open(SchedulerServiceDefinition, () => joinSecret),
    scheduler2: open(SchedulerServiceDefinition, () => joinSecret),
    clusterAs,
    as: (user) => ({ metadata: Metadata({ authorization: `Bearer ${tokens[user]}` }) }),
    tokens,
    joinSecret,
    signingKey,
    stop,
    async close() {
      await stop();
      await dir.remove();
    },
  };
}

/**
 * The bootstrapped admin's token (from the master's data dir) and a token
 * for each test user, made through the identity API as the admin would.
 * A master restarted on the same dir already has the users: their tokens
 * are made anew.
 */
async function userTokens(address: string, dataDir: string): Promise<Record<TestUser, string>> {
  const admin = (await readFile(join(dataDir, 'master', 'bootstrap-token'), 'utf8')).trim();
  const identity = connect(IdentityServiceDefinition, address, { bearer: () => admin });
  try {
    const { users } = await identity.client.listUsers({});
    const existing = new Set(users.map((u) => u.userName));
    const tokens = { admin } as Record<TestUser, string>;
    for (const user of TEST_USERS) {
      tokens[user] = existing.has(user)
        ? (await identity.client.createToken({ userName: user, description: 'test', expiresInSeconds: 0 })).secretToken
        : (await identity.client.createUser({ userName: user })).secretToken;
    }
    return tokens;
  } finally {
    identity.close();
  }
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
      m.clusterAs(this.workerId).heartbeat({ workerId: this.workerId, running: this.running() }).catch(() => undefined);
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

export async function submit(m: TestMaster, overrides: Partial<TaskSpec> = {}, user?: TestUser): Promise<Task> {
  const { task } = await m.tasks.submitTask({ spec: spec(overrides), idempotencyKey: '' }, user ? m.as(user) : {});
  return task!;
}

export async function getTask(m: TestMaster, taskId: string, user?: TestUser): Promise<Task> {
  const { task } = await m.tasks.getTask({ taskId }, user ? m.as(user) : {});
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
  await m.clusterAs(w.workerId).reportTaskStatus({
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
