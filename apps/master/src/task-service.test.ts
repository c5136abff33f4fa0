import { Metadata } from 'nice-grpc';
import { TaskSortKey } from '@cloudai/proto';
import { NEWEST_FIRST } from '@cloudai/store';
import { waitFor } from '@cloudai/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { encodePageToken } from './page-token.js';
import {
  completion,
  getTask,
  place,
  spec,
  startRunning,
  Status,
  submit,
  TaskStatus,
  useMasters,
  waitForStatus,
  workerView,
  type TestMaster,
} from './testing/harness.js';

const { master, registeredWorker } = useMasters();
let m: TestMaster;

beforeEach(async () => {
  m = await master();
});

describe('SubmitTask and GetTask', () => {
  it('applies defaults and stores the task QUEUED for the default user', async () => {
    const before = Date.now();
    const task = await submit(m, { image: 'registry:5000/team/trainer:1.0' });
    expect(task).toMatchObject({
      userId: 'default',
      status: TaskStatus.TASK_STATUS_QUEUED,
      attempt: 0,
      assignmentId: '',
      workerId: '',
      spec: { resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 }, command: ['echo', 'hi'] },
    });
    expect(task.taskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(task.submittedAt!.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(task.taskName).toBe(`trainer-${Math.floor(task.submittedAt!.getTime() / 1000)}`);
    expect(task.reason).not.toBe('');
  });

  it('keeps a given name, resources and env, and reads back what it stored', async () => {
    const task = await submit(m, {
      taskName: 'train-resnet',
      env: { EPOCHS: '3' },
      resources: { cpu: 2.5, memoryGb: 3, gpu: 1 },
      timeoutSeconds: 60,
      network: true,
    });
    const read = await getTask(m, task.taskId);
    expect(read).toEqual(task);
    expect(read).toMatchObject({
      taskName: 'train-resnet',
      spec: { env: { EPOCHS: '3' }, resources: { cpu: 2.5, memoryGb: 3, storageGb: 1, gpu: 1 }, timeoutSeconds: 60, network: true },
    });
  });

  it('rejects an invalid spec with INVALID_ARGUMENT naming the field, and stores nothing', async () => {
    await expect(m.tasks.submitTask({ spec: spec({ resources: { cpu: 0 } }), idempotencyKey: '' })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: 'resources.cpu must be > 0, got 0',
    });
    await expect(m.tasks.submitTask({ spec: spec({ resources: { gpu: 0.5 } }), idempotencyKey: '' })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('resources.gpu'),
    });
    await expect(m.tasks.submitTask({ idempotencyKey: '' })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect((await m.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '' })).tasks).toEqual([]);
  });

  it('returns the same task for the same idempotency key, per user', async () => {
    const first = await m.tasks.submitTask({ spec: spec(), idempotencyKey: 'nightly-42' }, m.as('alice'));
    const again = await m.tasks.submitTask({ spec: spec({ taskName: 'different' }), idempotencyKey: 'nightly-42' }, m.as('alice'));
    expect(again.task!.taskId).toBe(first.task!.taskId);
    // Another user's key is their own: it must neither collide with nor reveal alice's task.
    const bobs = await m.tasks.submitTask({ spec: spec(), idempotencyKey: 'nightly-42' }, m.as('bob'));
    expect(bobs.task!.taskId).not.toBe(first.task!.taskId);
    const { tasks } = await m.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '' }, m.as('alice'));
    expect(tasks.map((t) => t.taskId)).toEqual([first.task!.taskId]);
  });

  it('refuses an idempotency key that breaks the rule, naming it, and stores nothing', async () => {
    for (const key of ['has space', 'tab\there', 'naïve', 'k'.repeat(129)]) {
      await expect(m.tasks.submitTask({ spec: spec(), idempotencyKey: key })).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        details: 'idempotency_key must be 1-128 printable ASCII characters without spaces',
      });
      await expect(m.tasks.dispatchTask({ workerId: 'w1', spec: spec(), idempotencyKey: key })).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
      });
    }
    expect((await m.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '' })).tasks).toEqual([]);
    const longest = 'k'.repeat(128);
    const first = await m.tasks.submitTask({ spec: spec(), idempotencyKey: longest });
    expect((await m.tasks.submitTask({ spec: spec(), idempotencyKey: longest })).task!.taskId).toBe(first.task!.taskId);
  });

  it('gives distinct ids to many concurrent submissions without a key', async () => {
    const tasks = await Promise.all(Array.from({ length: 30 }, () => submit(m)));
    expect(new Set(tasks.map((t) => t.taskId)).size).toBe(30);
  });

  it('hides another user\'s task: NOT_FOUND for GetTask and CancelTask, absent from ListTasks', async () => {
    const mine = await submit(m, {}, 'alice');
    await expect(m.tasks.getTask({ taskId: mine.taskId }, m.as('mallory'))).rejects.toMatchObject({ code: Status.NOT_FOUND });
    await expect(m.tasks.cancelTask({ taskId: mine.taskId, reason: '' }, m.as('mallory'))).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
    const { tasks } = await m.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '' }, m.as('mallory'));
    expect(tasks).toEqual([]);
    expect((await getTask(m, mine.taskId, 'alice')).status).toBe(TaskStatus.TASK_STATUS_QUEUED);
  });

  it('refuses a malformed token with UNAUTHENTICATED, whatever user it claims', async () => {
    const claim = { metadata: Metadata({ authorization: 'Bearer cai_../etc' }) };
    await expect(m.tasks.submitTask({ spec: spec(), idempotencyKey: '' }, claim)).rejects.toMatchObject({
      code: Status.UNAUTHENTICATED,
      details: expect.stringContaining('malformed token'),
    });
  });

  it('GetTask of an unknown id is NOT_FOUND and of an empty id INVALID_ARGUMENT', async () => {
    await expect(m.tasks.getTask({ taskId: '0190a000-0000-7000-8000-000000000000' })).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
    await expect(m.tasks.getTask({ taskId: '' })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('task_id'),
    });
  });

  it('DispatchTask pins the task to a registered worker, and refuses an unknown one', async () => {
    await registeredWorker(m, 'w1');
    const { task } = await m.tasks.dispatchTask({ workerId: 'w1', spec: spec(), idempotencyKey: '' });
    expect(task!.pinnedWorkerId).toBe('w1');
    await expect(m.tasks.dispatchTask({ workerId: 'nope', spec: spec(), idempotencyKey: '' })).rejects.toMatchObject({
      code: Status.NOT_FOUND,
    });
  });
});

describe('ListTasks', () => {
  const all = { statuses: [], taskName: '', limit: 0, pageToken: '' };

  it('lists newest first and filters by status and by name', async () => {
    const a = await submit(m, { taskName: 'alpha' });
    const b = await submit(m, { taskName: 'beta' });
    const c = await submit(m, { taskName: 'alpha' });
    await m.tasks.cancelTask({ taskId: b.taskId, reason: '' });

    const listed = (await m.tasks.listTasks(all)).tasks.map((t) => t.taskId);
    expect(listed).toEqual([c.taskId, b.taskId, a.taskId]);

    const queued = await m.tasks.listTasks({ ...all, statuses: [TaskStatus.TASK_STATUS_QUEUED] });
    expect(queued.tasks.map((t) => t.taskId)).toEqual([c.taskId, a.taskId]);

    const cancelled = await m.tasks.listTasks({ ...all, statuses: [TaskStatus.TASK_STATUS_CANCELLED] });
    expect(cancelled.tasks.map((t) => t.taskId)).toEqual([b.taskId]);

    const alphas = await m.tasks.listTasks({ ...all, taskName: 'alpha' });
    expect(alphas.tasks.map((t) => t.taskId)).toEqual([c.taskId, a.taskId]);

    const both = await m.tasks.listTasks({ ...all, taskName: 'beta', statuses: [TaskStatus.TASK_STATUS_QUEUED] });
    expect(both.tasks).toEqual([]);
  });

  it('pages through every task exactly once, newest first, with page tokens', async () => {
    // Submitted concurrently so that many share a millisecond: the cursor must break ties.
    const submitted = await Promise.all(Array.from({ length: 7 }, (_, i) => submit(m, { taskName: `t${i}` })));
    const seen: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const res = await m.tasks.listTasks({ ...all, limit: 3, pageToken });
      expect(res.tasks.length).toBeLessThanOrEqual(3);
      seen.push(...res.tasks.map((t) => t.taskId));
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(submitted.map((t) => t.taskId)));
    const full = (await m.tasks.listTasks(all)).tasks.map((t) => t.taskId);
    expect(seen).toEqual(full);
  });

  it('sorts by name or status either way, pages in that order, and refuses a token made for another order', async () => {
    const names = ['delta', 'alpha', 'charlie', 'bravo', 'alpha'];
    const submitted = [];
    for (const taskName of names) submitted.push(await submit(m, { taskName }));
    await m.tasks.cancelTask({ taskId: submitted[2]!.taskId, reason: '' });
    const pages = async (sortBy: TaskSortKey, ascending: boolean) => {
      const seen: string[] = [];
      let pageToken = '';
      do {
        const res = await m.tasks.listTasks({ ...all, limit: 2, pageToken, sortBy, ascending });
        seen.push(...res.tasks.map((t) => `${t.taskName}/${TaskStatus[t.status]}`));
        pageToken = res.nextPageToken;
      } while (pageToken);
      return seen;
    };
    const byName = await pages(TaskSortKey.TASK_SORT_KEY_TASK_NAME, true);
    expect(byName.map((s) => s.split('/')[0])).toEqual(['alpha', 'alpha', 'bravo', 'charlie', 'delta']);
    expect((await pages(TaskSortKey.TASK_SORT_KEY_TASK_NAME, false)).map((s) => s.split('/')[0])).toEqual(
      ['delta', 'charlie', 'bravo', 'alpha', 'alpha'],
    );
    // By the status's name: CANCELLED before QUEUED.
    expect((await pages(TaskSortKey.TASK_SORT_KEY_STATUS, true))[0]).toBe('charlie/TASK_STATUS_CANCELLED');
    expect((await pages(TaskSortKey.TASK_SORT_KEY_STATUS, false)).at(-1)).toBe('charlie/TASK_STATUS_CANCELLED');

    const first = await m.tasks.listTasks({ ...all, limit: 2, sortBy: TaskSortKey.TASK_SORT_KEY_TASK_NAME, ascending: true });
    await expect(m.tasks.listTasks({ ...all, limit: 2, pageToken: first.nextPageToken })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^page_token was made for another sort order/),
    });
    await expect(m.tasks.listTasks({ ...all, sortBy: 99 as TaskSortKey })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^sort_by must be/),
    });
  });

  it('gives no next page token when the last page is exactly full', async () => {
    for (let i = 0; i < 3; i++) await submit(m);
    const res = await m.tasks.listTasks({ ...all, limit: 3 });
    expect(res.tasks).toHaveLength(3);
    expect(res.nextPageToken).toBe('');
  });

  it.each([
    ['garbage', 'not a token'],
    ['base64 of non-JSON', Buffer.from('hello').toString('base64url')],
    ['JSON of the wrong shape', Buffer.from(JSON.stringify({ s: 'x', t: 1 })).toString('base64url')],
  ])('refuses a malformed page_token (%s) with INVALID_ARGUMENT', async (_, pageToken) => {
    await expect(m.tasks.listTasks({ ...all, pageToken })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('page_token'),
    });
  });

  // A finite number that is not a valid time gives an Invalid Date; the store must never see it.
  it('refuses a page_token whose time is out of range with INVALID_ARGUMENT', async () => {
    await submit(m);
    const pageToken = Buffer.from(JSON.stringify({ o: 'submittedAt:desc', s: 1e300, t: 'x', n: 'x', u: 'QUEUED' })).toString('base64url');
    await expect(m.tasks.listTasks({ ...all, pageToken })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });

  it('accepts a token it issued for a task that no longer matters (keyset, not offset)', async () => {
    const t = await submit(m);
    const res = await m.tasks.listTasks({
      ...all,
      pageToken: encodePageToken(NEWEST_FIRST, { submittedAt: new Date(t.submittedAt!.getTime() + 1), taskId: 'z', taskName: 'gone', status: 'SUCCEEDED' }),
    });
    expect(res.tasks.map((x) => x.taskId)).toEqual([t.taskId]);
  });

  it('refuses a limit over 1000', async () => {
    await expect(m.tasks.listTasks({ ...all, limit: 1001 })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });
});

describe('CancelTask', () => {
  it('cancels a QUEUED task, and the scheduler no longer sees it', async () => {
    const t = await submit(m);
    const { task } = await m.tasks.cancelTask({ taskId: t.taskId, reason: 'changed my mind' });
    expect(task).toMatchObject({ status: TaskStatus.TASK_STATUS_CANCELLED, reason: 'changed my mind' });
    expect(task!.finishedAt).toBeInstanceOf(Date);
    const snap = await m.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 });
    expect(snap.tasks).toEqual([]);
  });

  it.each([
    ['SCHEDULED', false],
    ['RUNNING', true],
  ])('cancels a %s task: resources released and the worker told to stop', async (_, running) => {
    const w = await registeredWorker(m, 'w1');
    const t = await submit(m, { resources: { cpu: 2, memoryGb: 1 } });
    let assignmentId: string;
    if (running) {
      assignmentId = await startRunning(m, w, t.taskId);
    } else {
      assignmentId = (await place(m, t.taskId, 'w1')).assignmentId;
      await waitFor(() => w.assignmentFor(t.taskId), { what: 'assignment' });
    }
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(2);

    const { task } = await m.tasks.cancelTask({ taskId: t.taskId, reason: '' });
    expect(task!.status).toBe(TaskStatus.TASK_STATUS_CANCELLED);
    expect(task!.reason).toContain('default');
    expect((await workerView(m, 'w1'))!.allocated).toEqual({ cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 });
    const cancel = await waitFor(() => w.cancelled[0], { what: 'CancelTask at the worker' });
    expect(cancel).toMatchObject({ taskId: t.taskId, assignmentId });

    // The worker's late result for the cancelled attempt must not resurrect the task.
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId))).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
    await expect(
      m.cluster.reportTaskStatus({ taskId: t.taskId, assignmentId, status: TaskStatus.TASK_STATUS_RUNNING, reason: '', containerId: '' }),
    ).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_CANCELLED);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(0);
  });

  it('refuses to cancel a finished task with FAILED_PRECONDITION and leaves it as it was', async () => {
    const w = await registeredWorker(m, 'w1');
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    await m.cluster.completeTask(completion(t.taskId, assignmentId));
    await expect(m.tasks.cancelTask({ taskId: t.taskId, reason: '' })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining('SUCCEEDED'),
    });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_SUCCEEDED);

    const q = await submit(m);
    await m.tasks.cancelTask({ taskId: q.taskId, reason: '' });
    await expect(m.tasks.cancelTask({ taskId: q.taskId, reason: '' })).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
  });

  it('a cancelled task is never placed', async () => {
    await registeredWorker(m, 'w1');
    const t = await submit(m);
    await m.tasks.cancelTask({ taskId: t.taskId, reason: '' });
    const r = await place(m, t.taskId, 'w1');
    expect(r.committed).toBe(false);
    expect(r.reason).toContain('CANCELLED');
    await waitForStatus(m, t.taskId, TaskStatus.TASK_STATUS_CANCELLED);
  });
});

describe('DeleteFiles', () => {
  it('refuses while the task may still upload outputs, naming its status', async () => {
    const w = await registeredWorker(m, 'w1');
    const t = await submit(m);
    await expect(m.tasks.deleteFiles({ taskId: t.taskId })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining('is QUEUED; its outputs can be deleted once it has finished'),
    });
    await startRunning(m, w, t.taskId);
    await expect(m.tasks.deleteFiles({ taskId: t.taskId })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining('is RUNNING'),
    });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });
});
