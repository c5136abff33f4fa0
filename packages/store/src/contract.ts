import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newAssignmentId, newTaskId, type ResourceUnits } from '@cloudai/domain';
import {
  logPosition,
  type AssignmentRecord,
  type FileMetadataRecord,
  type LogChunkRecord,
  type ResultRecord,
  type TaskRecord,
  type Usage,
  type WorkerRecord,
} from './records.js';
import type { Store } from './store.js';

/**
 * The behaviour every Store adapter must have. `open` must return a new store
 * over the SAME database on every call: the suite opens a second one to race
 * two stores the way two master processes would.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    const extra: Store[] = [];

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      for (const s of extra) await s.close();
      await store?.close();
    });
    beforeEach(async () => {
      await store.clear();
    });

    async function second(): Promise<Store> {
      const s = await open();
      extra.push(s);
      return s;
    }

    describe('tasks', () => {
      it('round-trips every field of a task with all optional values set', async () => {
        const task = makeTask({
          command: ['/bin/sh', '-c', 'echo "héllo wörld" > /output/a.txt', ''],
          env: { PATH: '/bin', EMPTY: '', 'with.dot': 'x', $dollar: 'y', ['__proto__']: 'z', ÜNICODE: '✓' },
          resources: { cpu: 0.25, memoryGb: 1.5, storageGb: 2.75, gpu: 2 },
          timeoutSeconds: 3600,
          network: true,
          status: 'SUCCEEDED',
          reason: 'exited 0',
          attempt: 3,
          assignmentId: newAssignmentId(),
          workerId: 'worker-a',
          pinnedWorkerId: 'worker-a',
          exitCode: 0,
          scheduledAt: new Date('2024-05-01T10:00:01.123Z'),
          startedAt: new Date('2024-05-01T10:00:02.456Z'),
          finishedAt: new Date('2024-05-01T10:00:09.789Z'),
          outputFiles: [
            { path: 'a.txt', size: 13, sha256: 'a'.repeat(64) },
            { path: 'dir/b.bin', size: 0, sha256: 'b'.repeat(64) },
          ],
          outputBytes: 13,
          logBytes: 42,
          logDroppedBytes: 7,
          logsPurgedAt: new Date('2024-05-02T10:00:00.001Z'),
        });
        expect(Object.keys(task.env)).toContain('__proto__');

        const { task: created, created: isNew } = await store.createTask(task);
        expect(isNew).toBe(true);
        expect(created).toEqual(task);
        const got = await store.getTask(task.taskId);
        expect(got).toEqual(task);
        expect(got?.submittedAt).toBeInstanceOf(Date);
        expect(got?.finishedAt).toBeInstanceOf(Date);
        expect(Object.getPrototypeOf(got?.env)).toBe(Object.prototype);
        expect(Object.keys(got?.env ?? {})).toEqual(Object.keys(task.env));
      });

      it('round-trips nulls, empty strings and empty collections as such', async () => {
        const task = makeTask({ command: [], env: {}, reason: '', outputFiles: [], network: false });
        await store.createTask(task);
        const got = await store.getTask(task.taskId);
        expect(got).toEqual(task);
        expect(got?.assignmentId).toBeNull();
        expect(got?.workerId).toBeNull();
        expect(got?.pinnedWorkerId).toBeNull();
        expect(got?.exitCode).toBeNull();
        expect(got?.scheduledAt).toBeNull();
        expect(got?.startedAt).toBeNull();
        expect(got?.finishedAt).toBeNull();
        expect(got?.logsPurgedAt).toBeNull();
        expect(got?.logDroppedBytes).toBe(0);
      });

      it('returns null for an unknown task', async () => {
        expect(await store.getTask(newTaskId())).toBeNull();
      });

      it('returns the existing task for a repeated idempotency key and stores nothing new', async () => {
        const first = makeTask({ idempotencyKey: 'alice:key-1', userId: 'alice' });
        const retry = makeTask({ idempotencyKey: 'alice:key-1', userId: 'alice', image: 'other:2' });
        expect((await store.createTask(first)).created).toBe(true);
        const again = await store.createTask(retry);
        expect(again.created).toBe(false);
        expect(again.task).toEqual(first);
        expect(await store.getTask(retry.taskId)).toBeNull();
        expect(await store.listTasks({ userId: 'alice', limit: 10 })).toHaveLength(1);
      });

      it('creates exactly one task when 20 creates with one idempotency key race', async () => {
        const other = await second();
        const attempts = Array.from({ length: 20 }, () => makeTask({ idempotencyKey: 'bob:same', userId: 'bob' }));
        const results = await Promise.all(attempts.map((t, i) => (i % 2 ? other : store).createTask(t)));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        const winner = results.find((r) => r.created)?.task.taskId;
        expect(new Set(results.map((r) => r.task.taskId))).toEqual(new Set([winner]));
        const stored = await store.listTasks({ userId: 'bob', limit: 100 });
        expect(stored.map((t) => t.taskId)).toEqual([winner]);
      });

      it('refuses a second task with the same id but another idempotency key', async () => {
        const task = makeTask();
        await store.createTask(task);
        await expect(store.createTask({ ...task, idempotencyKey: `${task.userId}:different` })).rejects.toThrow();
        expect(await store.getTask(task.taskId)).toEqual(task);
      });
    });

    describe('listTasks', () => {
      const t0 = Date.parse('2024-01-01T00:00:00.000Z');
      const at = (minutes: number) => new Date(t0 + minutes * 60_000);
      let all: TaskRecord[];

      beforeEach(async () => {
        all = [
          makeTask({ userId: 'u1', taskName: 'alpha', submittedAt: at(1), status: 'QUEUED' }),
          makeTask({ userId: 'u1', taskName: 'beta', submittedAt: at(2), status: 'RUNNING', workerId: 'w1' }),
          makeTask({ userId: 'u2', taskName: 'alpha', submittedAt: at(3), status: 'SUCCEEDED', workerId: 'w2' }),
          makeTask({ userId: 'u1', taskName: 'alpha', submittedAt: at(4), status: 'FAILED', workerId: 'w1' }),
          makeTask({ userId: 'u2', taskName: 'gamma', submittedAt: at(5), status: 'QUEUED' }),
          // Three tasks in the same millisecond: order and pagination fall back to task id.
          makeTask({ userId: 'u1', taskName: 'delta', submittedAt: at(6), status: 'QUEUED' }),
          makeTask({ userId: 'u1', taskName: 'delta', submittedAt: at(6), status: 'QUEUED' }),
          makeTask({ userId: 'u1', taskName: 'delta', submittedAt: at(6), status: 'SCHEDULED', workerId: 'w2' }),
        ];
        // Inserted in an order unrelated to time, so sorting must come from the store.
        for (const i of [4, 0, 7, 2, 5, 1, 6, 3]) await store.createTask(all[i] as TaskRecord);
      });

      const newestFirst = (ts: TaskRecord[]) =>
        [...ts]
          .sort((a, b) => b.submittedAt.getTime() - a.submittedAt.getTime() || cmp(b.taskId, a.taskId))
          .map((t) => t.taskId);
      const ids = (ts: TaskRecord[]) => ts.map((t) => t.taskId);

      it('lists everything newest first, ties broken by task id descending, up to the limit', async () => {
        expect(ids(await store.listTasks({ limit: 100 }))).toEqual(newestFirst(all));
        expect(ids(await store.listTasks({ limit: 3 }))).toEqual(newestFirst(all).slice(0, 3));
      });

      it('filters by user, statuses, name, worker and submission window, combined', async () => {
        expect(ids(await store.listTasks({ userId: 'u2', limit: 100 }))).toEqual(
          newestFirst(all.filter((t) => t.userId === 'u2')),
        );
        expect(ids(await store.listTasks({ statuses: ['QUEUED', 'FAILED'], limit: 100 }))).toEqual(
          newestFirst(all.filter((t) => t.status === 'QUEUED' || t.status === 'FAILED')),
        );
        expect(await store.listTasks({ statuses: [], limit: 100 })).toEqual([]);
        expect(ids(await store.listTasks({ taskName: 'alpha', limit: 100 }))).toEqual(
          newestFirst(all.filter((t) => t.taskName === 'alpha')),
        );
        expect(ids(await store.listTasks({ workerId: 'w1', limit: 100 }))).toEqual(
          newestFirst(all.filter((t) => t.workerId === 'w1')),
        );
        expect(ids(await store.listTasks({ submittedAfter: at(2), submittedBefore: at(5), limit: 100 }))).toEqual(
          newestFirst(all.filter((t) => t.submittedAt > at(2) && t.submittedAt < at(5))),
        );
        expect(
          ids(await store.listTasks({ userId: 'u1', taskName: 'alpha', statuses: ['QUEUED', 'FAILED'], limit: 100 })),
        ).toEqual(newestFirst(all.filter((t) => t.userId === 'u1' && t.taskName === 'alpha')));
        expect(await store.listTasks({ userId: 'nobody', limit: 100 })).toEqual([]);
      });

      it('pages with a keyset cursor without skipping or repeating tasks that share a timestamp', async () => {
        const seen: string[] = [];
        let before: { submittedAt: Date; taskId: string } | undefined;
        for (;;) {
          const page = await store.listTasks({ limit: 2, ...(before ? { before } : {}) });
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(2);
          seen.push(...ids(page));
          const last = page[page.length - 1] as TaskRecord;
          before = { submittedAt: last.submittedAt, taskId: last.taskId };
        }
        expect(seen).toEqual(newestFirst(all));
      });

      it('combines the cursor with filters', async () => {
        const u1 = newestFirst(all.filter((t) => t.userId === 'u1'));
        const firstPage = await store.listTasks({ userId: 'u1', limit: 2 });
        expect(ids(firstPage)).toEqual(u1.slice(0, 2));
        const last = firstPage[1] as TaskRecord;
        const rest = await store.listTasks({
          userId: 'u1',
          limit: 100,
          before: { submittedAt: last.submittedAt, taskId: last.taskId },
        });
        expect(ids(rest)).toEqual(u1.slice(2));
      });

      it('lists queued tasks oldest first, up to the limit', async () => {
        const queued = all
          .filter((t) => t.status === 'QUEUED')
          .sort((a, b) => a.submittedAt.getTime() - b.submittedAt.getTime() || cmp(a.taskId, b.taskId))
          .map((t) => t.taskId);
        expect(ids(await store.listQueuedTasks(100))).toEqual(queued);
        expect(ids(await store.listQueuedTasks(2))).toEqual(queued.slice(0, 2));
      });

      it('rejects a limit that is not a positive integer, naming it', async () => {
        await expect(store.listTasks({ limit: 0 })).rejects.toThrow(/limit/);
        await expect(store.listQueuedTasks(-1)).rejects.toThrow(/limit/);
      });

      it('counts tasks per status, overall and for one user', async () => {
        expect(await store.countTasksByStatus()).toEqual({
          QUEUED: 4,
          RUNNING: 1,
          SUCCEEDED: 1,
          FAILED: 1,
          SCHEDULED: 1,
        });
        expect(await store.countTasksByStatus('u2')).toEqual({ QUEUED: 1, SUCCEEDED: 1 });
        expect(await store.countTasksByStatus('nobody')).toEqual({});
      });
    });

    describe('updateTask', () => {
      it('applies the patch only when the status matches, and returns the updated task', async () => {
        const task = makeTask({ status: 'QUEUED', updatedAt: new Date('2020-01-01T00:00:00Z') });
        await store.createTask(task);

        expect(await store.updateTask(task.taskId, { statuses: ['RUNNING'] }, { status: 'FAILED' })).toBeNull();
        expect(await store.getTask(task.taskId)).toEqual(task);

        const assignmentId = newAssignmentId();
        const scheduledAt = new Date('2024-02-02T02:02:02.202Z');
        const updated = await store.updateTask(
          task.taskId,
          { statuses: ['QUEUED', 'SCHEDULED'] },
          { status: 'SCHEDULED', assignmentId, workerId: 'w1', scheduledAt, attempt: 2, reason: 'placed' },
        );
        expect(updated).toEqual({
          ...task,
          status: 'SCHEDULED',
          assignmentId,
          workerId: 'w1',
          scheduledAt,
          attempt: 2,
          reason: 'placed',
          updatedAt: updated?.updatedAt,
        });
        expect(updated?.updatedAt.getTime()).toBeGreaterThan(task.updatedAt.getTime());
        expect(await store.getTask(task.taskId)).toEqual(updated);
      });

      it('conditions on the current assignment, where null means unassigned', async () => {
        const task = makeTask();
        await store.createTask(task);
        const a1 = newAssignmentId();

        expect(await store.updateTask(task.taskId, { assignmentId: a1 }, { reason: 'x' })).toBeNull();
        const assigned = await store.updateTask(task.taskId, { assignmentId: null }, { assignmentId: a1 });
        expect(assigned?.assignmentId).toBe(a1);
        expect(await store.updateTask(task.taskId, { assignmentId: null }, { reason: 'x' })).toBeNull();
        expect(await store.updateTask(task.taskId, { assignmentId: newAssignmentId() }, { reason: 'x' })).toBeNull();

        const running = await store.updateTask(
          task.taskId,
          { assignmentId: a1, statuses: ['QUEUED'] },
          { status: 'RUNNING', startedAt: new Date('2024-03-03T03:03:03.303Z') },
        );
        expect(running?.status).toBe('RUNNING');
        expect(
          await store.updateTask(task.taskId, { assignmentId: a1, statuses: ['QUEUED'] }, { reason: 'x' }),
        ).toBeNull();
      });

      it('sets values back to null and replaces the output file list', async () => {
        const task = makeTask({ exitCode: 3, workerId: 'w1', assignmentId: newAssignmentId(), finishedAt: new Date() });
        await store.createTask(task);
        const files = [{ path: 'out/r.csv', size: 10, sha256: 'c'.repeat(64) }];
        const patch = {
          exitCode: null,
          workerId: null,
          assignmentId: null,
          finishedAt: null,
          outputFiles: files,
          outputBytes: 10,
          logBytes: 7,
          logDroppedBytes: 3,
          logsPurgedAt: new Date('2024-09-09T09:09:09.009Z'),
        };
        const updated = await store.updateTask(task.taskId, {}, patch);
        expect(updated).toMatchObject(patch);
        expect(await store.getTask(task.taskId)).toEqual(updated);
        const unpurged = await store.updateTask(task.taskId, {}, { logsPurgedAt: null });
        expect(unpurged?.logsPurgedAt).toBeNull();
      });

      it('returns null for an unknown task and refuses fields that are not patchable', async () => {
        expect(await store.updateTask(newTaskId(), {}, { reason: 'x' })).toBeNull();
        const task = makeTask();
        await store.createTask(task);
        await expect(
          store.updateTask(task.taskId, {}, { userId: 'mallory' } as unknown as Parameters<Store['updateTask']>[2]),
        ).rejects.toThrow(/userId/);
        expect(await store.getTask(task.taskId)).toEqual(task);
      });

      it('lets exactly one of 50 concurrent updates racing the same transition win', async () => {
        const other = await second();
        const task = makeTask({ status: 'QUEUED' });
        await store.createTask(task);
        const contenders = Array.from({ length: 50 }, () => newAssignmentId());
        const results = await Promise.all(
          contenders.map((assignmentId, i) =>
            (i % 2 ? other : store).updateTask(
              task.taskId,
              { statuses: ['QUEUED'], assignmentId: null },
              { status: 'SCHEDULED', assignmentId, workerId: `w${i}` },
            ),
          ),
        );
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        const stored = await store.getTask(task.taskId);
        expect(stored?.status).toBe('SCHEDULED');
        expect(stored?.assignmentId).toBe(winners[0]?.assignmentId);
        expect(stored?.workerId).toBe(`w${contenders.indexOf(stored?.assignmentId ?? '')}`);
      });
    });

    describe('workers', () => {
      const now = new Date('2024-06-01T12:00:00.000Z');
      const later = new Date('2024-06-01T12:00:30.000Z');

      it('registers a worker as ALIVE with heartbeat and registration time set to now', async () => {
        const input = makeWorker('w1');
        const w = await store.registerWorker(input, now);
        expect(w).toEqual({ ...input, state: 'ALIVE', lastHeartbeat: now, registeredAt: now });
        expect(await store.getWorker('w1')).toEqual(w);
        expect(await store.getWorker('nope')).toBeNull();
      });

      it('replaces a registration, reviving a worker that was lost', async () => {
        await store.registerWorker(makeWorker('w1'), now);
        await store.setWorkerState('w1', ['ALIVE'], 'LOST');
        const bigger = makeWorker('w1', units(8000, 16384, 102400, 1), { address: '127.0.0.1:7001', version: '2.0.0' });
        const w = await store.registerWorker(bigger, later);
        expect(w).toEqual({ ...bigger, state: 'ALIVE', lastHeartbeat: later, registeredAt: later });
        expect(await store.listWorkers()).toHaveLength(1);
      });

      it('records heartbeats only from workers in the allowed states', async () => {
        await store.registerWorker(makeWorker('w1'), now);
        const usage: Usage = { cpuPercent: 42.5, memoryUsedGb: 1.25, loadAverage1m: 0.75, runningContainers: 3 };
        const beat = await store.heartbeatWorker('w1', usage, later, ['ALIVE', 'DRAINING']);
        expect(beat).toMatchObject({ usage, lastHeartbeat: later, registeredAt: now, state: 'ALIVE' });

        await store.setWorkerState('w1', ['ALIVE'], 'LOST');
        const afterLoss = new Date(later.getTime() + 1000);
        expect(await store.heartbeatWorker('w1', usage, afterLoss, ['ALIVE', 'DRAINING'])).toBeNull();
        expect((await store.getWorker('w1'))?.lastHeartbeat).toEqual(later);
        expect(await store.heartbeatWorker('nope', usage, later, ['ALIVE'])).toBeNull();
      });

      it('moves state only from the expected states', async () => {
        await store.registerWorker(makeWorker('w1'), now);
        expect(await store.setWorkerState('w1', ['DRAINING'], 'LOST')).toBeNull();
        expect((await store.setWorkerState('w1', ['ALIVE'], 'DRAINING'))?.state).toBe('DRAINING');
        expect((await store.setWorkerState('w1', ['ALIVE', 'DRAINING'], 'LOST'))?.state).toBe('LOST');
        expect((await store.getWorker('w1'))?.state).toBe('LOST');
        expect(await store.setWorkerState('nope', ['ALIVE'], 'LOST')).toBeNull();
      });

      it('lists workers by state and finds the silent ones', async () => {
        await store.registerWorker(makeWorker('w1'), now);
        await store.registerWorker(makeWorker('w2'), now);
        await store.registerWorker(makeWorker('w3'), now);
        await store.heartbeatWorker('w2', makeWorker('w2').usage, later, ['ALIVE']);
        await store.setWorkerState('w3', ['ALIVE'], 'DRAINING');

        expect((await store.listWorkers()).map((w) => w.workerId)).toEqual(['w1', 'w2', 'w3']);
        expect((await store.listWorkers(['ALIVE'])).map((w) => w.workerId)).toEqual(['w1', 'w2']);
        expect((await store.listWorkers(['DRAINING', 'LOST'])).map((w) => w.workerId)).toEqual(['w3']);
        expect(await store.listWorkers([])).toEqual([]);

        const cutoff = new Date(now.getTime() + 1000);
        expect((await store.listWorkersSilentSince(cutoff, ['ALIVE', 'DRAINING'])).map((w) => w.workerId)).toEqual([
          'w1',
          'w3',
        ]);
        expect((await store.listWorkersSilentSince(cutoff, ['ALIVE'])).map((w) => w.workerId)).toEqual(['w1']);
        // Strictly older: a heartbeat exactly at the cutoff is not silent.
        expect(await store.listWorkersSilentSince(now, ['ALIVE', 'DRAINING'])).toEqual([]);
      });
    });

    describe('reservations', () => {
      const cap = units(4000, 8192, 10240, 2);
      const now = new Date('2024-06-01T12:00:00.000Z');

      beforeEach(async () => {
        await store.registerWorker(makeWorker('w1', cap), now);
      });

      it('takes resources that fit, down to exactly zero', async () => {
        expect(await store.reserveOnWorker('w1', units(1500, 4096, 240, 1))).toBe(true);
        expect((await store.getWorker('w1'))?.free).toEqual(units(2500, 4096, 10000, 1));
        expect(await store.reserveOnWorker('w1', units(2500, 4096, 10000, 1))).toBe(true);
        expect((await store.getWorker('w1'))?.free).toEqual(units(0, 0, 0, 0));
        expect(await store.reserveOnWorker('w1', units(0, 0, 0, 0))).toBe(true);
        expect((await store.getWorker('w1'))?.capacity).toEqual(cap);
      });

      it('refuses, changing nothing, when any single dimension would go negative', async () => {
        for (const tooMuch of [units(4001, 1, 1, 0), units(1, 8193, 1, 0), units(1, 1, 10241, 0), units(1, 1, 1, 3)]) {
          expect(await store.reserveOnWorker('w1', tooMuch)).toBe(false);
          expect((await store.getWorker('w1'))?.free).toEqual(cap);
        }
      });

      it('refuses on a worker that is not ALIVE, or unknown', async () => {
        await store.setWorkerState('w1', ['ALIVE'], 'DRAINING');
        expect(await store.reserveOnWorker('w1', units(1, 1, 1, 0))).toBe(false);
        await store.setWorkerState('w1', ['DRAINING'], 'LOST');
        expect(await store.reserveOnWorker('w1', units(1, 1, 1, 0))).toBe(false);
        expect((await store.getWorker('w1'))?.free).toEqual(cap);
        expect(await store.reserveOnWorker('nope', units(1, 1, 1, 0))).toBe(false);
      });

      it('rejects negative or fractional units, naming the dimension', async () => {
        await expect(store.reserveOnWorker('w1', units(-1000, 0, 0, 0))).rejects.toThrow(/cpuMillis/);
        await expect(store.reserveOnWorker('w1', units(0, 0.5, 0, 0))).rejects.toThrow(/memoryMb/);
        await expect(store.releaseOnWorker('w1', units(0, 0, 0, -1))).rejects.toThrow(/gpu/);
        expect((await store.getWorker('w1'))?.free).toEqual(cap);
      });

      it('resets free units only while they are exactly what the caller saw', async () => {
        expect(await store.reserveOnWorker('w1', units(1000, 1024, 0, 1))).toBe(true);
        const seen = units(3000, 7168, 10240, 1);
        // Someone reserved since: the repair must not undo that.
        expect(await store.reserveOnWorker('w1', units(500, 0, 0, 0))).toBe(true);
        expect(await store.resetWorkerFree('w1', seen, cap)).toBe(false);
        expect((await store.getWorker('w1'))?.free).toEqual(units(2500, 7168, 10240, 1));
        expect(await store.resetWorkerFree('w1', units(2500, 7168, 10240, 1), units(3500, 8192, 10240, 2))).toBe(true);
        expect((await store.getWorker('w1'))?.free).toEqual(units(3500, 8192, 10240, 2));
        expect(await store.resetWorkerFree('nope', cap, cap)).toBe(false);
        await expect(store.resetWorkerFree('w1', cap, units(0, -1, 0, 0))).rejects.toThrow(/memoryMb/);
        expect((await store.getWorker('w1'))?.capacity).toEqual(cap);
      });

      it('never over-commits under concurrent reservations', async () => {
        await store.registerWorker(makeWorker('w5', units(5000, 100_000, 100_000, 0)), now);
        const other = await second();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).reserveOnWorker('w5', units(1000, 10, 10, 0))),
        );
        expect(results.filter(Boolean)).toHaveLength(5);
        expect((await store.getWorker('w5'))?.free).toEqual(units(0, 100_000 - 50, 100_000 - 50, 0));
      });

      it('never over-commits when a different dimension is the bottleneck', async () => {
        const results = await Promise.all(
          Array.from({ length: 12 }, () => store.reserveOnWorker('w1', units(100, 1024, 0, 0))),
        );
        expect(results.filter(Boolean)).toHaveLength(8);
        expect((await store.getWorker('w1'))?.free).toEqual(units(3200, 0, 10240, 2));
      });

      it('gives resources back, never beyond capacity', async () => {
        await store.reserveOnWorker('w1', units(3000, 8000, 0, 2));
        await store.releaseOnWorker('w1', units(1000, 8000, 0, 1));
        expect((await store.getWorker('w1'))?.free).toEqual(units(2000, 8192, 10240, 1));
        await store.releaseOnWorker('w1', units(5000, 5000, 5000, 5));
        expect((await store.getWorker('w1'))?.free).toEqual(cap);
        await store.releaseOnWorker('nope', units(1, 1, 1, 1));
        expect(await store.getWorker('nope')).toBeNull();
      });

      it('adds up concurrent releases exactly', async () => {
        await store.reserveOnWorker('w1', units(4000, 8192, 10240, 2));
        const other = await second();
        await Promise.all(
          Array.from({ length: 16 }, (_, i) => (i % 2 ? other : store).releaseOnWorker('w1', units(125, 256, 0, 0))),
        );
        expect((await store.getWorker('w1'))?.free).toEqual(units(2000, 4096, 0, 0));
      });
    });

    describe('assignments', () => {
      it('round-trips an assignment and finishes it only once', async () => {
        const a = makeAssignment({ attempt: 2 });
        await store.createAssignment(a);
        expect(await store.getAssignment(a.assignmentId)).toEqual(a);
        expect(await store.finishAssignment(a.assignmentId, 'SUCCEEDED')).toBe(true);
        expect(await store.finishAssignment(a.assignmentId, 'superseded')).toBe(false);
        expect(await store.getAssignment(a.assignmentId)).toEqual({ ...a, outcome: 'SUCCEEDED' });
        expect(await store.getAssignment(newAssignmentId())).toBeNull();
        expect(await store.finishAssignment(newAssignmentId(), 'FAILED')).toBe(false);
      });

      it('lets exactly one of many concurrent finishes win', async () => {
        const a = makeAssignment();
        await store.createAssignment(a);
        const outcomes = Array.from({ length: 20 }, (_, i) => `outcome-${i}`);
        const results = await Promise.all(outcomes.map((o) => store.finishAssignment(a.assignmentId, o)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.getAssignment(a.assignmentId))?.outcome).toBe(outcomes[results.indexOf(true)]);
      });

      it('refuses a duplicate assignment id', async () => {
        const a = makeAssignment();
        await store.createAssignment(a);
        await expect(store.createAssignment({ ...a, workerId: 'w2' })).rejects.toThrow();
        expect((await store.getAssignment(a.assignmentId))?.workerId).toBe('w1');
      });
    });

    describe('results', () => {
      it('stores, replaces and reads a result', async () => {
        const taskId = newTaskId();
        const r1: ResultRecord = {
          taskId,
          workerId: 'w1',
          status: 'FAILED',
          exitCode: null,
          completedAt: new Date('2024-08-08T08:08:08.008Z'),
          logBytes: 0,
        };
        await store.putResult(r1);
        expect(await store.getResult(taskId)).toEqual(r1);
        const r2: ResultRecord = { ...r1, workerId: 'w2', status: 'SUCCEEDED', exitCode: 0, logBytes: 1234 };
        await store.putResult(r2);
        expect(await store.getResult(taskId)).toEqual(r2);
        expect(await store.getResult(newTaskId())).toBeNull();
      });
    });

    describe('log chunks', () => {
      const a1 = 'assignment-1';
      const a2 = 'assignment-2';

      it('appends idempotently: a resend stores nothing, a mixed batch counts only the new chunks', async () => {
        const taskId = newTaskId();
        const batch = range(0, 5).map((seq) => makeChunk(taskId, a1, 1, seq));
        expect(await store.appendLogChunks(batch)).toEqual({ inserted: 5, insertedBytes: bytesOf(batch) });
        expect(await store.appendLogChunks(batch)).toEqual({ inserted: 0, insertedBytes: 0 });

        // A resent chunk never overwrites what was stored first.
        const changed = makeChunk(taskId, a1, 1, 0, { data: text('rewritten'), stream: 'stderr' });
        const mixed = [changed, ...range(3, 8).map((seq) => makeChunk(taskId, a1, 1, seq))];
        const fresh = mixed.filter((c) => c.seq >= 5);
        expect(await store.appendLogChunks(mixed)).toEqual({ inserted: 3, insertedBytes: bytesOf(fresh) });

        // A duplicate inside one batch is stored once, too.
        const twice = [makeChunk(taskId, a1, 1, 8), makeChunk(taskId, a1, 1, 8)];
        expect(await store.appendLogChunks(twice)).toEqual({ inserted: 1, insertedBytes: bytesOf(twice.slice(1)) });
        expect(await store.appendLogChunks([])).toEqual({ inserted: 0, insertedBytes: 0 });

        const stored = await store.readLogChunks(taskId, { limit: 100 });
        expect(stored).toEqual(range(0, 9).map((seq) => makeChunk(taskId, a1, 1, seq)));
      });

      it('stores each chunk once when 10 identical batches are appended concurrently', async () => {
        const other = await second();
        const taskId = newTaskId();
        const batch = range(0, 20).map((seq) => makeChunk(taskId, a1, 1, seq));
        const results = await Promise.all(range(0, 10).map((i) => (i % 2 ? other : store).appendLogChunks(batch)));
        expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(20);
        expect(results.reduce((n, r) => n + r.insertedBytes, 0)).toBe(bytesOf(batch));
        expect(await store.readLogChunks(taskId, { limit: 100 })).toEqual(batch);
      });

      it('reads in log order across attempts: attempt 2 seq 0 comes after attempt 1 seq 99', async () => {
        const taskId = newTaskId();
        const first = range(0, 100).map((seq) => makeChunk(taskId, a1, 1, seq));
        const retry = range(0, 5).map((seq) => makeChunk(taskId, a2, 2, seq));
        // Stored out of order, so the order must come from the store.
        await store.appendLogChunks(retry);
        await store.appendLogChunks([...first].reverse());
        await store.appendLogChunks([makeChunk(newTaskId(), a1, 1, 0)]);

        const all = await store.readLogChunks(taskId, { limit: 1000 });
        expect(all).toEqual([...first, ...retry]);
        const positions = all.map(logPosition);
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect(logPosition({ attempt: 2, seq: 0 })).toBeGreaterThan(logPosition({ attempt: 1, seq: 99 }));
        expect(await store.readLogChunks(taskId, { afterPosition: logPosition({ attempt: 1, seq: 99 }), limit: 1 }))
          .toEqual([retry[0]]);
      });

      it('resumes from afterPosition with no gap and no duplicate', async () => {
        const taskId = newTaskId();
        const chunks = [
          ...range(0, 23).map((seq) => makeChunk(taskId, a1, 1, seq)),
          ...range(0, 11).map((seq) => makeChunk(taskId, a2, 2, seq)),
        ];
        await store.appendLogChunks(chunks);
        const seen: LogChunkRecord[] = [];
        let afterPosition = 0;
        for (;;) {
          const page = await store.readLogChunks(taskId, { afterPosition, limit: 7 });
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(7);
          seen.push(...page);
          afterPosition = logPosition(page[page.length - 1] as LogChunkRecord);
        }
        expect(seen).toEqual(chunks);
        expect(await store.readLogChunks(taskId, { afterPosition: 0, limit: 100 })).toEqual(chunks);
      });

      it('filters by streams and since, combined with the limit and a resume position', async () => {
        const taskId = newTaskId();
        const chunks = range(0, 10).map((seq) =>
          makeChunk(taskId, a1, 1, seq, { stream: seq % 3 === 0 ? 'stderr' : 'stdout' }),
        );
        await store.appendLogChunks(chunks);
        const stderr = chunks.filter((c) => c.stream === 'stderr');
        expect(await store.readLogChunks(taskId, { streams: ['stderr'], limit: 100 })).toEqual(stderr);
        expect(await store.readLogChunks(taskId, { streams: ['stdout', 'stderr'], limit: 100 })).toEqual(chunks);
        expect(await store.readLogChunks(taskId, { streams: [], limit: 100 })).toEqual([]);

        // since is inclusive: the chunk stamped exactly at `since` is included.
        const since = (chunks[4] as LogChunkRecord).ts;
        expect(await store.readLogChunks(taskId, { since, limit: 100 })).toEqual(chunks.slice(4));
        expect(await store.readLogChunks(taskId, { since, streams: ['stderr'], limit: 100 })).toEqual(
          chunks.slice(4).filter((c) => c.stream === 'stderr'),
        );
        expect(await store.readLogChunks(taskId, { limit: 3 })).toEqual(chunks.slice(0, 3));
        const after = logPosition(chunks[2] as LogChunkRecord);
        expect(await store.readLogChunks(taskId, { afterPosition: after, streams: ['stdout'], limit: 2 })).toEqual(
          chunks.slice(3).filter((c) => c.stream === 'stdout').slice(0, 2),
        );
      });

      it('reads backward, newest first, for a tail', async () => {
        const taskId = newTaskId();
        const chunks = [
          ...range(0, 8).map((seq) => makeChunk(taskId, a1, 1, seq, { stream: seq % 2 ? 'stderr' : 'stdout' })),
          ...range(0, 4).map((seq) => makeChunk(taskId, a2, 2, seq, { stream: seq % 2 ? 'stderr' : 'stdout' })),
        ];
        await store.appendLogChunks(chunks);
        const newestFirst = [...chunks].reverse();

        const tail = await store.readLogChunksBackward(taskId, { limit: 5 });
        expect(tail).toEqual(newestFirst.slice(0, 5));
        const beforePosition = logPosition(tail[tail.length - 1] as LogChunkRecord);
        expect(await store.readLogChunksBackward(taskId, { beforePosition, limit: 5 })).toEqual(
          newestFirst.slice(5, 10),
        );
        expect(await store.readLogChunksBackward(taskId, { streams: ['stderr'], limit: 3 })).toEqual(
          newestFirst.filter((c) => c.stream === 'stderr').slice(0, 3),
        );
        const since = (chunks[6] as LogChunkRecord).ts;
        expect(await store.readLogChunksBackward(taskId, { since, limit: 100 })).toEqual(
          newestFirst.filter((c) => c.ts >= since),
        );
        expect(
          await store.readLogChunksBackward(taskId, { beforePosition: logPosition({ attempt: 1, seq: 0 }), limit: 5 }),
        ).toEqual([]);
        expect(await store.readLogChunksBackward(newTaskId(), { limit: 5 })).toEqual([]);
      });

      it('returns data byte-exactly: every byte value, a 256 KiB random chunk, an empty chunk, a marker', async () => {
        const taskId = newTaskId();
        const everyByte = new Uint8Array(range(0, 256));
        const random = new Uint8Array(randomBytes(256 * 1024));
        const chunks = [
          makeChunk(taskId, a1, 1, 0, { data: everyByte }),
          makeChunk(taskId, a1, 1, 1, { data: random }),
          makeChunk(taskId, a1, 1, 2, { data: new Uint8Array(0) }),
          makeChunk(taskId, a1, 1, 3, { data: text('[cloudai: log truncated]\n'), marker: true, stream: 'stderr' }),
          // A view into a larger buffer: only the viewed bytes are stored.
          makeChunk(taskId, a1, 1, 4, { data: everyByte.subarray(10, 20) }),
        ];
        expect(await store.appendLogChunks(chunks)).toEqual({ inserted: 5, insertedBytes: bytesOf(chunks) });
        expect(bytesOf(chunks)).toBe(256 + 256 * 1024 + 0 + 25 + 10);
        const got = await store.readLogChunks(taskId, { limit: 10 });
        expect(got).toHaveLength(chunks.length);
        got.forEach((c, i) => {
          const want = chunks[i] as LogChunkRecord;
          expect(c.data).toBeInstanceOf(Uint8Array);
          expect(c.data.byteLength).toBe(want.data.byteLength);
          expect(Buffer.from(c.data).equals(Buffer.from(want.data))).toBe(true);
          expect({ ...c, data: null }).toEqual({ ...want, data: null });
        });
        expect(got[3]?.marker).toBe(true);
      });

      it("deletes one task's chunks and reports how many", async () => {
        const t1 = newTaskId();
        const t2 = newTaskId();
        await store.appendLogChunks(range(0, 6).map((seq) => makeChunk(t1, a1, 1, seq)));
        await store.appendLogChunks(range(0, 2).map((seq) => makeChunk(t2, a1, 1, seq)));
        expect(await store.deleteLogChunks(t1)).toBe(6);
        expect(await store.readLogChunks(t1, { limit: 100 })).toEqual([]);
        expect(await store.readLogChunks(t2, { limit: 100 })).toHaveLength(2);
        expect(await store.deleteLogChunks(t1)).toBe(0);
        // Deleted chunks may be appended again (e.g. a task re-run after a purge).
        expect((await store.appendLogChunks([makeChunk(t1, a1, 1, 0)])).inserted).toBe(1);
      });

      it('refuses chunks whose position cannot be encoded, and bad bounds and limits, storing nothing', async () => {
        const taskId = newTaskId();
        const good = makeChunk(taskId, a1, 1, 0);
        await expect(store.appendLogChunks([good, makeChunk(taskId, a1, 1, 2 ** 32)])).rejects.toThrow(/seq/);
        await expect(store.appendLogChunks([makeChunk(taskId, a1, -1, 0)])).rejects.toThrow(/attempt/);
        expect(await store.readLogChunks(taskId, { limit: 10 })).toEqual([]);
        await expect(store.readLogChunks(taskId, { limit: 0 })).rejects.toThrow(/limit/);
        await expect(store.readLogChunks(taskId, { afterPosition: -1, limit: 1 })).rejects.toThrow(/afterPosition/);
        await expect(store.readLogChunksBackward(taskId, { beforePosition: 1.5, limit: 1 })).rejects.toThrow(
          /beforePosition/,
        );
      });

      it('adds log bytes atomically: 20 concurrent increments sum exactly', async () => {
        const other = await second();
        const task = makeTask({ logBytes: 100, logDroppedBytes: 1 });
        await store.createTask(task);
        const results = await Promise.all(
          range(0, 20).map((i) => (i % 2 ? other : store).addLogBytes(task.taskId, i + 1, i % 3)),
        );
        expect(results.every((r) => r?.taskId === task.taskId)).toBe(true);
        const got = await store.getTask(task.taskId);
        expect(got?.logBytes).toBe(100 + 210);
        expect(got?.logDroppedBytes).toBe(1 + range(0, 20).reduce((n, i) => n + (i % 3), 0));
        expect(got?.updatedAt.getTime()).toBeGreaterThan(task.updatedAt.getTime());
        // Every other field is untouched.
        expect({ ...got, logBytes: 0, logDroppedBytes: 0, updatedAt: null }).toEqual({
          ...task,
          logBytes: 0,
          logDroppedBytes: 0,
          updatedAt: null,
        });
        expect(await store.addLogBytes(newTaskId(), 1, 0)).toBeNull();
        await expect(store.addLogBytes(task.taskId, -1, 0)).rejects.toThrow(/storedBytes/);
      });
    });

    describe('listTasks by finish time and log retention', () => {
      it('filters by finishedBefore and logsPurged, alone and combined', async () => {
        const at = (minutes: number) => new Date(Date.UTC(2024, 2, 1, 0, minutes));
        const early = makeTask({ status: 'SUCCEEDED', finishedAt: at(1) });
        const earlyPurged = makeTask({ status: 'FAILED', finishedAt: at(2), logsPurgedAt: at(30) });
        const late = makeTask({ status: 'SUCCEEDED', finishedAt: at(10) });
        const running = makeTask({ status: 'RUNNING' });
        for (const t of [early, earlyPurged, late, running]) await store.createTask(t);
        const ids = async (f: Omit<Parameters<Store['listTasks']>[0], 'limit'>) =>
          new Set((await store.listTasks({ ...f, limit: 100 })).map((t) => t.taskId));

        expect(await ids({ finishedBefore: at(10) })).toEqual(new Set([early.taskId, earlyPurged.taskId]));
        expect(await ids({ finishedBefore: at(11) })).toEqual(new Set([early.taskId, earlyPurged.taskId, late.taskId]));
        expect(await ids({ logsPurged: true })).toEqual(new Set([earlyPurged.taskId]));
        expect(await ids({ logsPurged: false })).toEqual(new Set([early.taskId, late.taskId, running.taskId]));
        expect(await ids({ finishedBefore: at(10), logsPurged: false })).toEqual(new Set([early.taskId]));
      });
    });

    describe('file metadata', () => {
      const t0 = Date.UTC(2024, 3, 1);

      it('replaces the set of files: a second replace leaves exactly the second set, listed by path', async () => {
        const taskId = newTaskId();
        const otherTask = newTaskId();
        const first = ['b.txt', 'a/x.bin', 'c', 'a/b/deep.csv'].map((p) => makeFile(taskId, p, t0));
        await store.replaceFileMetadata(taskId, first);
        await store.replaceFileMetadata(otherTask, [makeFile(otherTask, 'keep.txt', t0)]);
        expect(await store.listFileMetadata(taskId)).toEqual(
          [...first].sort((x, y) => cmp(x.filePath, y.filePath)),
        );

        const secondSet = [makeFile(taskId, 'b.txt', t0 + 5, { fileSize: 99 }), makeFile(taskId, 'd.txt', t0 + 5)];
        await store.replaceFileMetadata(taskId, secondSet);
        expect(await store.listFileMetadata(taskId)).toEqual(secondSet);
        expect(await store.listFileMetadata(otherTask)).toHaveLength(1);

        await store.replaceFileMetadata(taskId, []);
        expect(await store.listFileMetadata(taskId)).toEqual([]);
        expect(await store.listFileMetadata(newTaskId())).toEqual([]);
      });

      it('never duplicates or mixes sets when retried replaces race', async () => {
        const other = await second();
        const taskId = newTaskId();
        const setA = ['x', 'y', 'z'].map((p) => makeFile(taskId, p, t0));
        const setB = ['x', 'w'].map((p) => makeFile(taskId, p, t0 + 1, { fileSize: 7 }));
        await Promise.all(range(0, 10).map((i) => (i % 2 ? other : store).replaceFileMetadata(taskId, setA)));
        expect(await store.listFileMetadata(taskId)).toEqual(setA);

        await Promise.all(range(0, 10).map((i) => store.replaceFileMetadata(taskId, i % 2 ? setA : setB)));
        const final = await store.listFileMetadata(taskId);
        expect([setA, [...setB].sort((x, y) => cmp(x.filePath, y.filePath))]).toContainEqual(final);
      });

      it("refuses a file of another task or a repeated path, keeping the task's files", async () => {
        const taskId = newTaskId();
        const files = [makeFile(taskId, 'a', t0)];
        await store.replaceFileMetadata(taskId, files);
        await expect(store.replaceFileMetadata(taskId, [makeFile(newTaskId(), 'b', t0)])).rejects.toThrow(
          /belongs to task/,
        );
        await expect(
          store.replaceFileMetadata(taskId, [makeFile(taskId, 'b', t0), makeFile(taskId, 'b', t0)]),
        ).rejects.toThrow(/appears twice/);
        expect(await store.listFileMetadata(taskId)).toEqual(files);
      });

      it("deletes a task's files and reports how many", async () => {
        const taskId = newTaskId();
        const keep = newTaskId();
        await store.replaceFileMetadata(taskId, ['a', 'b', 'c'].map((p) => makeFile(taskId, p, t0)));
        await store.replaceFileMetadata(keep, [makeFile(keep, 'a', t0)]);
        expect(await store.deleteFileMetadata(taskId)).toBe(3);
        expect(await store.listFileMetadata(taskId)).toEqual([]);
        expect(await store.deleteFileMetadata(taskId)).toBe(0);
        expect(await store.listFileMetadata(keep)).toHaveLength(1);
      });

      it('lists each task with files stored before a time once, oldest first, up to the limit', async () => {
        const [a, b, c, d] = [newTaskId(), newTaskId(), newTaskId(), newTaskId()] as [string, string, string, string];
        await store.replaceFileMetadata(a, [makeFile(a, 'f', t0 + 3)]);
        await store.replaceFileMetadata(b, ['f', 'g', 'h'].map((p, i) => makeFile(b, p, t0 + 1 + i * 3)));
        await store.replaceFileMetadata(c, ['f', 'g'].map((p) => makeFile(c, p, t0 + 2)));
        await store.replaceFileMetadata(d, [makeFile(d, 'f', t0 + 10)]);

        expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 5), 100)).toEqual([b, c, a]);
        expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 5), 2)).toEqual([b, c]);
        expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 1), 100)).toEqual([]);
        expect(await store.listTasksWithFilesStoredBefore(new Date(t0 + 11), 100)).toEqual([b, c, a, d]);
        await expect(store.listTasksWithFilesStoredBefore(new Date(t0), 0)).rejects.toThrow(/limit/);
      });
    });

    it('clear() removes every record', async () => {
      const task = makeTask();
      await store.createTask(task);
      await store.appendLogChunks([makeChunk(task.taskId, 'a', 1, 0)]);
      await store.replaceFileMetadata(task.taskId, [makeFile(task.taskId, 'f', Date.now())]);
      await store.registerWorker(makeWorker('w1'), new Date());
      const assignment = makeAssignment({ taskId: task.taskId });
      await store.createAssignment(assignment);
      await store.putResult({
        taskId: task.taskId,
        workerId: 'w1',
        status: 'SUCCEEDED',
        exitCode: 0,
        completedAt: new Date(),
        logBytes: 0,
      });
      await store.clear();
      expect(await store.getTask(task.taskId)).toBeNull();
      expect(await store.listWorkers()).toEqual([]);
      expect(await store.getAssignment(assignment.assignmentId)).toBeNull();
      expect(await store.getResult(task.taskId)).toBeNull();
      expect(await store.readLogChunks(task.taskId, { limit: 10 })).toEqual([]);
      expect(await store.listFileMetadata(task.taskId)).toEqual([]);
    });
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function text(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

function bytesOf(chunks: readonly LogChunkRecord[]): number {
  return chunks.reduce((n, c) => n + c.data.byteLength, 0);
}

/** A chunk whose data and timestamp follow from its position, so rebuilt copies compare equal. */
function makeChunk(
  taskId: string,
  assignmentId: string,
  attempt: number,
  seq: number,
  overrides: Partial<LogChunkRecord> = {},
): LogChunkRecord {
  return {
    taskId,
    assignmentId,
    attempt,
    seq,
    stream: 'stdout',
    ts: new Date(Date.UTC(2024, 1, 1) + attempt * 3_600_000 + seq * 10),
    data: text(`attempt ${attempt} line ${seq}\n`),
    marker: false,
    ...overrides,
  };
}

function makeFile(
  taskId: string,
  filePath: string,
  storedAt: number,
  overrides: Partial<FileMetadataRecord> = {},
): FileMetadataRecord {
  return {
    taskId,
    taskName: 'trainer-1704067200',
    userId: 'user-1',
    submittedAt: new Date('2024-01-01T00:00:00.000Z'),
    assignmentId: 'assignment-1',
    fileName: filePath.split('/').pop() as string,
    filePath,
    taskDir: `user-1/trainer-1704067200/2024-01-01T00-00-00.000Z/${taskId}`,
    fileSize: filePath.length,
    sha256: 'f'.repeat(64),
    storedAt: new Date(storedAt),
    ...overrides,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

let seq = 0;

/** A complete, valid TaskRecord for tests; `overrides` win. */
export function makeTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  const taskId = overrides.taskId ?? newTaskId();
  const submittedAt = overrides.submittedAt ?? new Date(Date.UTC(2024, 0, 1, 0, 0, 0, seq++));
  return {
    taskId,
    taskName: 'busybox-1704067200',
    userId: 'user-1',
    image: 'cloudai-test/busybox:1',
    command: ['echo', 'hi'],
    env: { A: '1' },
    resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 },
    timeoutSeconds: 600,
    network: false,
    status: 'QUEUED',
    reason: '',
    attempt: 1,
    assignmentId: null,
    workerId: null,
    pinnedWorkerId: null,
    exitCode: null,
    submittedAt,
    scheduledAt: null,
    startedAt: null,
    finishedAt: null,
    outputFiles: [],
    outputBytes: 0,
    logBytes: 0,
    logDroppedBytes: 0,
    logsPurgedAt: null,
    idempotencyKey: taskId,
    updatedAt: submittedAt,
    ...overrides,
  };
}

function units(cpuMillis: number, memoryMb: number, storageMb: number, gpu: number): ResourceUnits {
  return { cpuMillis, memoryMb, storageMb, gpu };
}

function makeWorker(
  workerId: string,
  capacity: ResourceUnits = units(4000, 8192, 10240, 0),
  extra: Partial<Pick<WorkerRecord, 'address' | 'version'>> = {},
): Omit<WorkerRecord, 'state' | 'lastHeartbeat' | 'registeredAt'> {
  return {
    workerId,
    address: extra.address ?? '127.0.0.1:7000',
    capacity,
    free: { ...capacity },
    usage: { cpuPercent: 0, memoryUsedGb: 0, loadAverage1m: 0, runningContainers: 0 },
    version: extra.version ?? '1.0.0',
  };
}

function makeAssignment(overrides: Partial<AssignmentRecord> = {}): AssignmentRecord {
  return {
    assignmentId: newAssignmentId(),
    taskId: newTaskId(),
    workerId: 'w1',
    attempt: 1,
    createdAt: new Date('2024-07-07T07:07:07.007Z'),
    outcome: null,
    ...overrides,
  };
}
