import { beforeEach, describe, expect, it } from 'vitest';
import { newAssignmentId, newTaskId } from '@cloudai/domain';
import { TASK_SORT_KEYS, type TaskOrder, type TaskRecord } from '../records.js';
import type { Store } from '../store.js';
import { cmp, makeTask } from './fixtures.js';
import type { ContractSubject } from './subject.js';

/** TASKS: creating, reading, listing and conditional updates. */
export function describeTaskContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

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
        queuedAt: new Date('2024-05-01T10:00:00.321Z'),
        scheduledAt: new Date('2024-05-01T10:00:01.123Z'),
        startedAt: new Date('2024-05-01T10:00:02.456Z'),
        uploadingAt: new Date('2024-05-01T10:00:08.654Z'),
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
      expect(got?.queuedAt).toBeNull();
      expect(got?.startedAt).toBeNull();
      expect(got?.uploadingAt).toBeNull();
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
      const other = await subject.second();
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
      let after: TaskRecord | undefined;
      for (;;) {
        const page = await store.listTasks({ limit: 2, ...(after ? { after } : {}) });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...ids(page));
        after = page[page.length - 1] as TaskRecord;
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
        after: last,
      });
      expect(ids(rest)).toEqual(u1.slice(2));
    });

    /** The tasks in `order`, as the store must list them: by the key, then time, then id, all in one direction. */
    const inOrder = (ts: TaskRecord[], order: TaskOrder) => {
      const key = (t: TaskRecord) => (order.key === 'taskName' ? t.taskName : order.key === 'status' ? t.status : '');
      const sign = order.ascending ? 1 : -1;
      return [...ts]
        .sort((a, b) => sign * (cmp(key(a), key(b)) || a.submittedAt.getTime() - b.submittedAt.getTime() || cmp(a.taskId, b.taskId)))
        .map((t) => t.taskId);
    };

    it('sorts by name, status or time, either way, and pages each order without skipping or repeating', async () => {
      for (const key of TASK_SORT_KEYS) {
        for (const ascending of [true, false]) {
          const order = { key, ascending };
          expect(ids(await store.listTasks({ order, limit: 100 })), `${key} ${ascending}`).toEqual(inOrder(all, order));
          const seen: string[] = [];
          let after: TaskRecord | undefined;
          for (;;) {
            const page = await store.listTasks({ order, limit: 3, ...(after ? { after } : {}) });
            if (page.length === 0) break;
            seen.push(...ids(page));
            after = page[page.length - 1];
          }
          expect(seen, `pages of ${key} ${ascending}`).toEqual(inOrder(all, order));
          // With filters, as the console's table combines them.
          const u1Queued = all.filter((t) => t.userId === 'u1' && (t.status === 'QUEUED' || t.status === 'RUNNING'));
          const firstPage = await store.listTasks({ order, userId: 'u1', statuses: ['QUEUED', 'RUNNING'], limit: 2 });
          const rest = await store.listTasks({ order, userId: 'u1', statuses: ['QUEUED', 'RUNNING'], limit: 100, after: firstPage[1] });
          expect([...ids(firstPage), ...ids(rest)], `filtered ${key} ${ascending}`).toEqual(inOrder(u1Queued, order));
        }
      }
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
      const other = await subject.second();
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
}
