import { waitFor } from '@cloudai/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { getTask, place, Status, submit, TaskStatus, useMasters, workerView, type TestMaster } from './testing/harness.js';

const { master, registeredWorker } = useMasters();
let m: TestMaster;

beforeEach(async () => {
  m = await master();
});

const snapshot = (afterGeneration = 0, waitMs = 0) => m.scheduler.getSnapshot({ maxTasks: 0, afterGeneration, waitMs });

describe('GetSnapshot', () => {
  it('lists QUEUED tasks oldest first and ALIVE workers with capacity and allocated', async () => {
    await registeredWorker(m, 'w1', { cpu: 4, memoryGb: 8, storageGb: 50, gpu: 1 });
    await registeredWorker(m, 'w2', { cpu: 2, memoryGb: 4, storageGb: 10, gpu: 0 });
    const a = await submit(m, { resources: { cpu: 1, memoryGb: 2 } });
    const b = await submit(m, { resources: { cpu: 0.5 } });
    const c = await submit(m);
    expect((await place(m, a.taskId, 'w1')).committed).toBe(true);

    const snap = await snapshot();
    expect(snap.tasks.map((t) => t.taskId)).toEqual([b.taskId, c.taskId]);
    expect(snap.tasks[0]).toMatchObject({
      resources: { cpu: 0.5, memoryGb: 0.5, storageGb: 1, gpu: 0 },
      pinnedWorkerId: '',
      attempt: 0,
    });
    expect(snap.tasks[0]!.submittedAt).toEqual(b.submittedAt);
    expect(snap.workers).toEqual([
      {
        workerId: 'w1',
        capacity: { cpu: 4, memoryGb: 8, storageGb: 50, gpu: 1 },
        allocated: { cpu: 1, memoryGb: 2, storageGb: 1, gpu: 0 },
      },
      { workerId: 'w2', capacity: { cpu: 2, memoryGb: 4, storageGb: 10, gpu: 0 }, allocated: { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 } },
    ]);
    expect(snap.generation).toBeGreaterThan(0);
  });

  it('honours max_tasks, keeping the oldest', async () => {
    const first = await submit(m);
    await submit(m);
    await submit(m);
    const snap = await m.scheduler.getSnapshot({ maxTasks: 1, afterGeneration: 0, waitMs: 0 });
    expect(snap.tasks.map((t) => t.taskId)).toEqual([first.taskId]);
  });

  it('long poll: a snapshot waiting on the current generation returns with a task submitted meanwhile', async () => {
    const { generation } = await snapshot();
    const polling = snapshot(generation, 2000);
    const t = await submit(m);
    const snap = await polling;
    expect(snap.generation).toBeGreaterThan(generation);
    expect(snap.tasks.map((x) => x.taskId)).toEqual([t.taskId]);
  });

  it('long poll with nothing changing answers with the same generation', async () => {
    const { generation } = await snapshot();
    const snap = await snapshot(generation, 300);
    expect(snap.generation).toBe(generation);
    expect(snap.tasks).toEqual([]);
  });

  it('refuses wait_ms over the maximum', async () => {
    await expect(snapshot(0, 30_001)).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('wait_ms') });
  });
});

describe('CommitPlacements', () => {
  it('moves the task to SCHEDULED, reserves resources and sends AssignTask to the worker', async () => {
    const w = await registeredWorker(m, 'w1');
    const t = await submit(m, { resources: { cpu: 1.5, memoryGb: 2, storageGb: 3, gpu: 0 } });
    const r = await place(m, t.taskId, 'w1');
    expect(r).toMatchObject({ taskId: t.taskId, committed: true, reason: '' });
    expect(r.assignmentId).not.toBe('');

    const task = await getTask(m, t.taskId);
    expect(task).toMatchObject({ status: TaskStatus.TASK_STATUS_SCHEDULED, assignmentId: r.assignmentId, workerId: 'w1', attempt: 1 });
    expect(task.scheduledAt).toBeInstanceOf(Date);
    expect((await workerView(m, 'w1'))!.allocated).toEqual({ cpu: 1.5, memoryGb: 2, storageGb: 3, gpu: 0 });
    expect((await workerView(m, 'w1'))!.taskIds).toEqual([t.taskId]);

    const sent = await waitFor(() => w.assignmentFor(t.taskId), { what: 'AssignTask' });
    expect(sent.assignment).toMatchObject({
      assignmentId: r.assignmentId,
      taskId: t.taskId,
      workerId: 'w1',
      attempt: 1,
      task: { taskId: t.taskId, spec: { image: t.spec!.image, command: t.spec!.command, resources: t.spec!.resources } },
    });
    expect((await snapshot()).tasks).toEqual([]);
  });

  it('skips a second commit of the same task with a reason, and reserves nothing more', async () => {
    const w = await registeredWorker(m, 'w1');
    const t = await submit(m);
    const first = await place(m, t.taskId, 'w1');
    const second = await place(m, t.taskId, 'w1');
    expect(first.committed).toBe(true);
    expect(second).toMatchObject({ committed: false, assignmentId: '' });
    expect(second.reason).toContain('SCHEDULED');
    expect((await getTask(m, t.taskId)).assignmentId).toBe(first.assignmentId);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(1);
    await waitFor(() => w.assignmentFor(t.taskId), { what: 'AssignTask' });
    expect(w.assigned).toHaveLength(1);
  });

  it('skips a placement on a worker without room, leaving the task QUEUED', async () => {
    const w = await registeredWorker(m, 'w1', { cpu: 1, memoryGb: 16, storageGb: 100, gpu: 0 });
    const t = await submit(m, { resources: { cpu: 2 } });
    const r = await place(m, t.taskId, 'w1');
    expect(r.committed).toBe(false);
    expect(r.reason).toContain('room');
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_QUEUED);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(0);
    expect(w.assigned).toEqual([]);
  });

  it('skips placements on unknown workers, of unknown tasks, and of pinned tasks elsewhere', async () => {
    await registeredWorker(m, 'w1');
    await registeredWorker(m, 'w2');
    const t = await submit(m);
    expect((await place(m, t.taskId, 'ghost')).reason).toContain('ghost');
    expect((await place(m, '0190a000-0000-7000-8000-000000000000', 'w1')).reason).toContain('not found');
    const { task: pinned } = await m.tasks.dispatchTask({ workerId: 'w2', spec: t.spec, idempotencyKey: '' });
    const r = await place(m, pinned!.taskId, 'w1');
    expect(r).toMatchObject({ committed: false });
    expect(r.reason).toContain('pinned');
    expect((await place(m, pinned!.taskId, 'w2')).committed).toBe(true);
  });

  it('refuses a placement without ids as INVALID_ARGUMENT before committing any', async () => {
    await registeredWorker(m, 'w1');
    const t = await submit(m);
    await expect(
      m.scheduler.commitPlacements({ placements: [{ taskId: t.taskId, workerId: 'w1' }, { taskId: '', workerId: 'w1' }], unplaced: [] }),
    ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('placements[1]') });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_QUEUED);
  });

  it('stores the reason of an unplaced task on the QUEUED task, and not on one that moved on', async () => {
    await registeredWorker(m, 'w1');
    const waiting = await submit(m, { resources: { cpu: 8 } });
    const placed = await submit(m);
    const reason = 'no worker has 8 cores free; largest free: 4 cores';
    await m.scheduler.commitPlacements({
      placements: [{ taskId: placed.taskId, workerId: 'w1' }],
      unplaced: [
        { taskId: waiting.taskId, reason },
        { taskId: placed.taskId, reason: 'stale reason from an older plan' },
      ],
    });
    expect(await getTask(m, waiting.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_QUEUED, reason });
    expect((await getTask(m, placed.taskId)).reason).toBe('placed on w1');
  });

  it('a drained worker leaves the snapshot and gets no placements; resuming brings it back', async () => {
    await registeredWorker(m, 'w1');
    await registeredWorker(m, 'w2');
    const { worker: drained } = await m.tasks.drainWorker({ workerId: 'w1', drain: true }, m.as('admin'));
    expect(drained!.workerId).toBe('w1');
    expect((await snapshot()).workers.map((w) => w.workerId)).toEqual(['w2']);
    const t = await submit(m);
    expect((await place(m, t.taskId, 'w1')).committed).toBe(false);

    await m.tasks.drainWorker({ workerId: 'w1', drain: false }, m.as('admin'));
    expect((await snapshot()).workers.map((w) => w.workerId)).toEqual(['w1', 'w2']);
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);
  });

  it('DrainWorker of an unknown worker is NOT_FOUND', async () => {
    await expect(m.tasks.drainWorker({ workerId: 'ghost', drain: true }, m.as('admin'))).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });

  // A drain is an operator's decision; a worker process restarting must not undo it.
  it('a drained worker that re-registers stays drained', async () => {
    const w = await registeredWorker(m, 'w1');
    await m.tasks.drainWorker({ workerId: 'w1', drain: true }, m.as('admin'));
    await w.register(m);
    expect((await snapshot()).workers).toEqual([]);
  });
});

describe('concurrent commits', () => {
  it('of the same task from two schedulers: exactly one is committed and one assignment sent', async () => {
    const w = await registeredWorker(m, 'w1', { cpu: 64, memoryGb: 64, storageGb: 1000, gpu: 0 });
    const t = await submit(m, { resources: { cpu: 1, memoryGb: 1 } });
    const commits = Array.from({ length: 50 }, (_, i) =>
      (i % 2 === 0 ? m.scheduler : m.scheduler2).commitPlacements({ placements: [{ taskId: t.taskId, workerId: 'w1' }], unplaced: [] }),
    );
    const results = (await Promise.all(commits)).map((r) => r.results[0]!);
    const winners = results.filter((r) => r.committed);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.committed).every((r) => r.reason !== '')).toBe(true);
    expect((await getTask(m, t.taskId)).assignmentId).toBe(winners[0]!.assignmentId);
    // Losers may reserve before noticing they lost; every such reservation must be given back.
    expect((await workerView(m, 'w1'))!.allocated).toEqual({ cpu: 1, memoryGb: 1, storageGb: 1, gpu: 0 });
    await waitFor(() => w.assignmentFor(t.taskId), { what: 'AssignTask' });
    expect(w.assigned).toHaveLength(1);
  });

  it('of 20 one-cpu tasks onto one 5-cpu worker: exactly 5 are committed', async () => {
    await registeredWorker(m, 'w1', { cpu: 5, memoryGb: 64, storageGb: 1000, gpu: 0 });
    const tasks = await Promise.all(Array.from({ length: 20 }, () => submit(m, { resources: { cpu: 1 } })));
    const results = await Promise.all(
      tasks.map((t, i) =>
        (i % 2 === 0 ? m.scheduler : m.scheduler2)
          .commitPlacements({ placements: [{ taskId: t.taskId, workerId: 'w1' }], unplaced: [] })
          .then((r) => r.results[0]!),
      ),
    );
    expect(results.filter((r) => r.committed)).toHaveLength(5);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(5);
    expect((await snapshot()).tasks).toHaveLength(15);
  });
});
