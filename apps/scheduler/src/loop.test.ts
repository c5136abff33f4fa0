import { createLogger } from '@cloudai/logger';
import {
  SchedulerServiceDefinition,
  type CommitPlacementsRequest,
  type GetSnapshotRequest,
  type GetSnapshotResponse,
  type Resources,
  type SchedulerServiceImplementation,
} from '@cloudai/proto';
import { connect, type ServiceClient } from '@cloudai/rpc';
import { scrapeMetrics, waitFor } from '@cloudai/testing';
import { delay } from 'abort-controller-x';
import { createServer, ServerError, Status, type CallContext, type Server } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterEach, describe, expect, it } from 'vitest';
import { Env } from './env.js';
import { SchedulerLoop, type SchedulerLoopOptions } from './loop.js';
import { binpack } from './policies.js';
import { Scheduler } from './scheduler.js';

const logger = createLogger({ name: 'scheduler-test', level: 'silent' });

interface FakeTask {
  taskId: string;
  resources: Resources;
  pinnedWorkerId?: string;
  status: 'QUEUED' | 'SCHEDULED';
  reason: string;
  workerId: string;
}

interface FakeWorker {
  workerId: string;
  capacity: Required<Resources>;
  allocated: Required<Resources>;
}

const KEYS = ['cpu', 'memoryGb', 'storageGb', 'gpu'] as const;
const res = (cpu: number, memoryGb: number, storageGb = 0, gpu = 0): Required<Resources> => ({
  cpu,
  memoryGb,
  storageGb,
  gpu,
});

/**
 * A master reduced to its SchedulerService: it holds queued tasks and
 * workers, hands out snapshots and re-validates every placement it is sent,
 * as the real one does.
 */
class FakeMaster {
  tasks: FakeTask[] = [];
  workers: FakeWorker[] = [];
  /** bumped on every change that can affect placement, as the master's is */
  generation = 1;
  snapshotCalls = 0;
  /** long polls the master is holding right now */
  parked: GetSnapshotRequest[] = [];
  #changed = new EventTarget();
  commits: CommitPlacementsRequest[] = [];
  /** how many placements one commit accepts; the rest are skipped as stale */
  acceptPerCommit = Infinity;
  /** when set, GetSnapshot waits for the caller to give up */
  hang = false;
  /** hung GetSnapshot calls that ended because the caller cancelled them */
  cancelledSnapshots = 0;
  /** commits that fail before touching anything, as when the store is down */
  failCommits = 0;
  #server: Server | undefined;

  addTask(taskId: string, resources: Resources, pinnedWorkerId?: string) {
    this.tasks.push({ taskId, resources, pinnedWorkerId, status: 'QUEUED', reason: '', workerId: '' });
    this.#bump();
  }

  addWorker(workerId: string, capacity: Required<Resources>, allocated = res(0, 0)) {
    this.workers.push({ workerId, capacity, allocated });
    this.#bump();
  }

  #bump() {
    this.generation++;
    this.#changed.dispatchEvent(new Event('change'));
  }

  async #waitForChange(req: GetSnapshotRequest, signal: AbortSignal) {
    if (req.afterGeneration === 0 || req.afterGeneration !== this.generation || req.waitMs === 0) return;
    this.parked.push(req);
    const changed = new AbortController();
    const onChange = () => changed.abort();
    this.#changed.addEventListener('change', onChange);
    try {
      await delay(AbortSignal.any([signal, changed.signal]), req.waitMs).catch(() => {});
    } finally {
      this.#changed.removeEventListener('change', onChange);
      this.parked.splice(this.parked.indexOf(req), 1);
    }
  }

  task(taskId: string): FakeTask {
    return this.tasks.find((t) => t.taskId === taskId)!;
  }

  readonly impl: SchedulerServiceImplementation = {
    getSnapshot: async (req, context: CallContext): Promise<GetSnapshotResponse> => {
      this.snapshotCalls++;
      if (this.hang) {
        try {
          await delay(context.signal, 3_600_000);
        } finally {
          if (context.signal.aborted) this.cancelledSnapshots++;
        }
      }
      await this.#waitForChange(req, context.signal);
      return {
        generation: this.generation,
        tasks: this.tasks
          .filter((t) => t.status === 'QUEUED')
          .map((t, i) => ({
            taskId: t.taskId,
            resources: t.resources,
            pinnedWorkerId: t.pinnedWorkerId ?? '',
            submittedAt: new Date(1_700_000_000_000 + i),
            attempt: 0,
          })),
        workers: this.workers.map((w) => ({ workerId: w.workerId, capacity: w.capacity, allocated: w.allocated })),
      };
    },
    commitPlacements: async (req) => {
      if (this.failCommits > 0) {
        this.failCommits--;
        throw new ServerError(Status.INTERNAL, 'store is down');
      }
      this.commits.push(req);
      let accepted = 0;
      const results = req.placements.map((p) => {
        const task = this.tasks.find((t) => t.taskId === p.taskId);
        const worker = this.workers.find((w) => w.workerId === p.workerId);
        const skip = (reason: string) => ({ taskId: p.taskId, committed: false, assignmentId: '', reason });
        if (!task || task.status !== 'QUEUED') return skip('task is no longer queued');
        if (!worker) return skip('worker is gone');
        if (accepted >= this.acceptPerCommit) return skip('stale snapshot');
        const need = { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0, ...task.resources };
        if (KEYS.some((k) => worker.allocated[k] + need[k] > worker.capacity[k])) return skip('no longer fits');
        for (const k of KEYS) worker.allocated[k] += need[k];
        task.status = 'SCHEDULED';
        task.workerId = worker.workerId;
        task.reason = '';
        accepted++;
        return { taskId: p.taskId, committed: true, assignmentId: `a-${p.taskId}`, reason: '' };
      });
      for (const u of req.unplaced) {
        const task = this.tasks.find((t) => t.taskId === u.taskId);
        if (task?.status === 'QUEUED') task.reason = u.reason;
      }
      if (accepted > 0) this.#bump();
      return { results };
    },
  };

  async listen(address = '127.0.0.1:0'): Promise<string> {
    this.#server = createServer();
    this.#server.add(SchedulerServiceDefinition, this.impl);
    const port = await this.#server.listen(address);
    return `127.0.0.1:${port}`;
  }

  async close() {
    this.#server?.forceShutdown();
    this.#server = undefined;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeMaster(): Promise<{ master: FakeMaster; address: string }> {
  const master = new FakeMaster();
  const address = await master.listen();
  cleanups.push(() => master.close());
  return { master, address };
}

function loopAgainst(
  address: string,
  options: Partial<SchedulerLoopOptions> = {},
  deadlineMs = 5_000,
): SchedulerLoop {
  const conn: ServiceClient<typeof SchedulerServiceDefinition> = connect(SchedulerServiceDefinition, address, {
    defaultDeadlineMs: deadlineMs,
  });
  const loop = new SchedulerLoop({
    client: conn.client,
    policy: binpack,
    intervalMs: 20,
    maxTasks: 1000,
    logger,
    ...options,
  });
  cleanups.push(async () => {
    await loop.stop();
    conn.close();
  });
  return loop;
}

const settled = (m: FakeMaster) => m.tasks.every((t) => t.status !== 'QUEUED' || t.reason !== '') || undefined;

describe('SchedulerLoop against a master', () => {
  it('commits the placements and tells the master why the rest stay queued', async () => {
    const { master, address } = await fakeMaster();
    master.addWorker('w-1', res(4, 8, 100));
    master.addWorker('w-2', res(16, 64, 100));
    master.addTask('t1', res(2, 4, 1));
    master.addTask('t2', res(2, 4, 1));
    master.addTask('t3', res(4, 16, 1));
    master.addTask('huge', res(1, 128, 1));
    master.addTask('lost-pin', res(1, 1, 1), 'w-9');
    master.addTask('pinned-full', res(1, 1, 1), 'w-1');
    master.addTask('wide', res(13, 1, 1));
    master.addTask('bad', { cpu: 1, memoryGb: -1, storageGb: 1, gpu: 0 });
    master.addTask('defaults', {});

    const loop = loopAgainst(address, { intervalMs: 3_600_000 });
    loop.start();
    expect(loop.state).toBe('RUNNING');
    // Round 1 places and explains; round 2 follows at once and updates the one
    // reason that round 1's placements changed (wide: 12 → 11 cores free).
    await waitFor(() => (settled(master) && master.commits.length >= 2) || undefined, {
      what: 'every task placed or given a reason',
    });

    const placed = Object.fromEntries(master.tasks.filter((t) => t.status === 'SCHEDULED').map((t) => [t.taskId, t.workerId]));
    // binpack: the small worker fills first; t3 and the default-sized task then go to w-2.
    expect(placed).toEqual({ t1: 'w-1', t2: 'w-1', t3: 'w-2', defaults: 'w-2' });
    const reasons = Object.fromEntries(master.tasks.filter((t) => t.status === 'QUEUED').map((t) => [t.taskId, t.reason]));
    expect(reasons).toEqual({
      huge: 'no worker has 128 GB memory in total (largest: 64 GB); it can never be placed',
      'lost-pin': 'worker w-9 is not registered or not accepting tasks',
      'pinned-full': 'worker w-1 has only 0 cores free (needs 1 core)',
      wide: 'no worker has 13 cores free; largest free: 11 cores',
      bad: 'cannot be scheduled: resources.memory_gb must be a finite number >= 0, got -1',
    });
    for (const w of master.workers) for (const k of KEYS) expect(w.allocated[k]).toBeLessThanOrEqual(w.capacity[k]);

    await loop.stop();
    expect(loop.state).toBe('STOPPED');
    expect(loop.stats().committed).toBe(4);
  });

  it('runs again at once after a round that placed something', async () => {
    const { master, address } = await fakeMaster();
    // One placement per commit and an hour between idle rounds: only an
    // immediate next round gets all three tasks placed.
    master.acceptPerCommit = 1;
    master.addWorker('w-1', res(8, 32, 100));
    for (const id of ['a', 'b', 'c']) master.addTask(id, res(1, 1, 1));
    const loop = loopAgainst(address, { intervalMs: 3_600_000 });
    loop.start();
    await waitFor(() => loop.stats().committed === 3 || undefined, { what: 'three commits counted' });
    expect(master.tasks.map((t) => t.status)).toEqual(['SCHEDULED', 'SCHEDULED', 'SCHEDULED']);
    expect(master.commits.length).toBeGreaterThanOrEqual(3);
  });

  it('waits out a master that is down at start and proceeds once it is up', async () => {
    // Reserve a port, then free it so that nothing listens there yet.
    const probe = new FakeMaster();
    const address = await probe.listen();
    await probe.close();

    const loop = loopAgainst(address, { intervalMs: 20 });
    loop.start();
    await waitFor(() => loop.stats().masterUnavailable >= 2 || undefined, { what: 'retries against a dead master' });
    expect(loop.state).toBe('RUNNING');
    expect(loop.stats().rounds).toBe(0);

    const master = new FakeMaster();
    master.addWorker('w-1', res(4, 8, 10));
    master.addTask('t1', res(1, 1, 1));
    await master.listen(address);
    cleanups.push(() => master.close());
    await waitFor(() => master.task('t1').status === 'SCHEDULED' || undefined, { what: 't1 placed' });
    expect(master.task('t1').workerId).toBe('w-1');
  });

  it('keeps going when a commit fails, and does not resend reasons that did not change', async () => {
    const { master, address } = await fakeMaster();
    master.addWorker('w-1', res(2, 4, 10));
    master.addTask('too-big', res(4, 1, 1));
    master.failCommits = 1;
    const loop = loopAgainst(address, { intervalMs: 10, maxErrorBackoffMs: 20, longPollMs: 10 });
    loop.start();
    await waitFor(() => master.task('too-big').reason || undefined, { what: 'reason stored' });
    expect(master.task('too-big').reason).toBe('no worker has 4 cores in total (largest: 2 cores); it can never be placed');
    expect(loop.stats().failedRounds).toBe(1);
    const snapshotsAtFirstCommit = master.snapshotCalls;
    await waitFor(() => master.snapshotCalls >= snapshotsAtFirstCommit + 5 || undefined, { what: 'more rounds' });
    // The failed commit stored nothing; one stored the reason, and none since: nothing changed.
    expect(master.commits.length).toBe(1);
  });

  it('long-polls when idle and wakes as soon as a task is queued', async () => {
    const { master, address } = await fakeMaster();
    master.addWorker('w-1', res(4, 8, 10));
    // An hour of long poll and deadline: the new task gets placed only if
    // the parked call is answered by the change itself.
    const loop = loopAgainst(address, { intervalMs: 10, longPollMs: 3_600_000 }, 3_600_000);
    loop.start();
    await waitFor(() => master.parked[0], { what: 'a parked long poll' });
    expect(master.parked[0]).toMatchObject({ afterGeneration: master.generation, waitMs: 3_600_000 });
    const before = master.generation;

    master.addTask('late', res(1, 1, 1));
    await waitFor(() => master.task('late').status === 'SCHEDULED' || undefined, { what: 'late placed' });
    expect(master.task('late').workerId).toBe('w-1');
    // Queuing and placing moved the generation on; the loop parks again on the new one.
    await waitFor(() => master.parked[0], { what: 'parked again' });
    expect(master.parked[0]!.afterGeneration).toBe(before + 2);
  });

  it('stop() aborts the call in flight', async () => {
    const { master, address } = await fakeMaster();
    master.hang = true;
    // An hour of deadline: only stop() itself can end the hung call.
    const loop = loopAgainst(address, {}, 3_600_000);
    // Runs before the loop's own cleanup: should stop() fail to end the
    // call, the master closing ends it, so the failure is reported, not hung.
    cleanups.push(() => master.close());
    loop.start();
    await waitFor(() => master.snapshotCalls > 0 || undefined, { what: 'a snapshot call' });
    const stopped = loop.stop();
    // Seen on the master's side: the call was cancelled by the client.
    await waitFor(() => master.cancelledSnapshots > 0 || undefined, {
      timeoutMs: 10_000,
      what: 'the master to see the snapshot call cancelled',
    });
    await stopped;
    expect(loop.state).toBe('STOPPED');
    expect(loop.stats().rounds).toBe(0);
    expect(() => loop.start()).toThrow(/STOPPED/);
  });
});

describe('Scheduler', () => {
  it('start() runs the loop against CLOUDAI_MASTER and stop() shuts everything down', async () => {
    const { master, address } = await fakeMaster();
    master.addWorker('w-1', res(4, 8, 10));
    master.addWorker('w-2', res(4, 8, 10));
    master.addTask('t1', res(1, 1, 1));
    master.addTask('t2', res(1, 1, 1));
    const env = Env.parse({
      CLOUDAI_MASTER: address,
      SCHEDULER_POLICY: 'spread',
      SCHEDULER_INTERVAL_MS: '20',
      CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
      METRICS_ADDR: 'off',
    });
    const scheduler = new Scheduler(env, logger);
    await scheduler.start();
    expect(scheduler.state).toBe('RUNNING');
    expect(scheduler.address).toMatch(/^127\.0\.0\.1:\d+$/);
    await waitFor(() => master.tasks.every((t) => t.status === 'SCHEDULED') || undefined, { what: 'placements' });
    // spread: one task on each worker.
    expect(new Set(master.tasks.map((t) => t.workerId))).toEqual(new Set(['w-1', 'w-2']));
    await scheduler.stop();
    expect(scheduler.loop.state).toBe('STOPPED');
    expect(scheduler.state).toBe('STOPPED');
  });

  it('serves its metrics: rounds, placements by result, and its gRPC calls', async () => {
    const { master, address } = await fakeMaster();
    master.addWorker('w-1', res(4, 8, 10));
    master.addTask('t1', res(1, 1, 1));
    master.addTask('t2', res(1, 1, 1));
    master.addTask('too-big', res(64, 1, 1));
    // The first commit is taken only in part: one placement is skipped as stale, and placed next round.
    master.acceptPerCommit = 1;
    const env = Env.parse({
      CLOUDAI_MASTER: address,
      SCHEDULER_INTERVAL_MS: '20',
      CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
      METRICS_ADDR: '127.0.0.1:0',
    });
    const scheduler = new Scheduler(env, logger);
    cleanups.push(() => scheduler.stop());
    await scheduler.start();
    await waitFor(() => (master.task('t1').status === 'SCHEDULED' && master.task('t2').status === 'SCHEDULED') || undefined, {
      what: 'placements',
    });
    // Idle: the loop is parked in a long poll, so no round is under way.
    await waitFor(() => master.parked.length === 1 || undefined, { what: 'the long poll' });
    const rounds = scheduler.loop.stats().rounds;
    const health = connect(HealthDefinition, scheduler.address);
    cleanups.push(() => health.close());
    await health.client.check({ service: '' });

    const s = await scrapeMetrics(scheduler.metricsAddress!);
    expect(s.value('cloudai_scheduler_placements_total', { result: 'committed' })).toBe(2);
    expect(s.value('cloudai_scheduler_placements_total', { result: 'rejected' })).toBe(1);
    // The task no worker fits is counted each round it waits.
    expect(rounds).toBeGreaterThanOrEqual(3);
    expect(s.value('cloudai_scheduler_placements_total', { result: 'unplaceable' })).toBe(rounds);
    expect(s.value('cloudai_scheduler_round_seconds_count')).toBe(rounds);
    expect(s.value('cloudai_grpc_server_handled_total', { service: 'grpc.health.v1.Health', method: 'Check', code: 'OK' })).toBe(1);
    expect(s.value('process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('rejects bad configuration naming the variable', () => {
    expect(Env.parse({})).toMatchObject({
      CLOUDAI_MASTER: '127.0.0.1:50051',
      SCHEDULER_POLICY: 'binpack',
      SCHEDULER_INTERVAL_MS: 200,
      SCHEDULER_MAX_TASKS: 10_000,
      LISTEN_ADDR: '127.0.0.1:0',
      METRICS_ADDR: '127.0.0.1:9453',
      LOG_PRETTY: false,
    });
    expect(Env.safeParse({ METRICS_ADDR: 'everywhere' }).error?.issues[0]?.path).toEqual(['METRICS_ADDR']);
    expect(Env.safeParse({ SCHEDULER_POLICY: 'random' }).error?.issues[0]?.path).toEqual(['SCHEDULER_POLICY']);
    expect(Env.safeParse({ SCHEDULER_MAX_TASKS: '0' }).error?.issues[0]?.path).toEqual(['SCHEDULER_MAX_TASKS']);
    expect(Env.safeParse({ LOG_PRETTY: 'maybe' }).error?.issues[0]?.path).toEqual(['LOG_PRETTY']);
  });
});
