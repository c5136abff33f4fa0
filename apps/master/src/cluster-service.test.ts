import { join } from 'node:path';
import type { Resources } from '@cloudai/proto';
import { openSqliteStore } from '@cloudai/store';
import { waitFor } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import {
  completion as emptyCompletion,
  getTask,
  place,
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

async function setup(env: Record<string, string> = {}, capacity?: Resources) {
  m = await master(env);
  return registeredWorker(m, 'w1', capacity);
}

const ZERO = { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 };

/** A completion with one output file. */
function completion(taskId: string, assignmentId: string, status = TaskStatus.TASK_STATUS_SUCCEEDED, exitCode = 0) {
  return emptyCompletion(taskId, assignmentId, {
    status,
    exitCode,
    outputFiles: [{ path: 'out/model.bin', size: 3, sha256: 'a'.repeat(64) }],
    outputBytes: 3,
  });
}

function report(taskId: string, assignmentId: string, status: TaskStatus) {
  return m.cluster.reportTaskStatus({ taskId, assignmentId, status, reason: '', containerId: 'c1' });
}

describe('status reports and completion', () => {
  it('RUNNING sets startedAt; a resent RUNNING is harmless', async () => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    const running = await getTask(m, t.taskId);
    expect(running).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING, reason: '' });
    expect(running.startedAt).toBeInstanceOf(Date);
    await report(t.taskId, assignmentId, TaskStatus.TASK_STATUS_RUNNING);
    expect((await getTask(m, t.taskId)).startedAt).toEqual(running.startedAt);
  });

  it('UPLOADING then SUCCEEDED: result stored, resources released; a resent completion is accepted and changes nothing', async () => {
    const w = await setup();
    const t = await submit(m, { resources: { cpu: 2, memoryGb: 4 } });
    const assignmentId = await startRunning(m, w, t.taskId);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(2);
    await report(t.taskId, assignmentId, TaskStatus.TASK_STATUS_UPLOADING);
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_UPLOADING);

    await m.cluster.completeTask(completion(t.taskId, assignmentId));
    const done = await getTask(m, t.taskId);
    expect(done).toMatchObject({
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      exitCode: 0,
      outputFiles: [{ path: 'out/model.bin', size: 3, sha256: 'a'.repeat(64) }],
      outputBytes: 3,
    });
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect((await workerView(m, 'w1'))!.allocated).toEqual(ZERO);
    expect((await workerView(m, 'w1'))!.taskIds).toEqual([]);

    // A worker retrying after a lost response must not get an error, nor free the resources twice.
    await m.cluster.completeTask(completion(t.taskId, assignmentId));
    expect(await getTask(m, t.taskId)).toEqual(done);
    const other = await submit(m, { resources: { cpu: 4 } });
    expect((await place(m, other.taskId, 'w1')).committed).toBe(true);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(4);
  });

  it('a completion with a different status than the accepted one is FAILED_PRECONDITION', async () => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    await m.cluster.completeTask(completion(t.taskId, assignmentId, TaskStatus.TASK_STATUS_FAILED, 1));
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId))).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });
    expect(await getTask(m, t.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_FAILED, exitCode: 1 });
  });

  it('rejects reports quoting a stale or unknown assignment and leaves the task unchanged', async () => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    const before = await getTask(m, t.taskId);
    const stale = '0190a000-0000-7000-8000-000000000000';

    await expect(m.cluster.completeTask(completion(t.taskId, stale))).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining(stale),
    });
    await expect(report(t.taskId, stale, TaskStatus.TASK_STATUS_UPLOADING)).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });
    expect(await getTask(m, t.taskId)).toEqual(before);
    expect(before.assignmentId).toBe(assignmentId);
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(1);

    await expect(m.cluster.completeTask(completion(stale, stale))).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });

  it.each([
    ['UNSPECIFIED', TaskStatus.TASK_STATUS_UNSPECIFIED],
    ['SUCCEEDED', TaskStatus.TASK_STATUS_SUCCEEDED],
    ['QUEUED', TaskStatus.TASK_STATUS_QUEUED],
  ])('ReportTaskStatus with %s is INVALID_ARGUMENT naming the field', async (_, status) => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    await expect(report(t.taskId, assignmentId, status)).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^status must be RUNNING or UPLOADING/),
    });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });

  it('CompleteTask refuses a non-final status, SUCCEEDED with a non-zero exit code, and bad file hashes', async () => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId, TaskStatus.TASK_STATUS_RUNNING))).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('status'),
    });
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId, TaskStatus.TASK_STATUS_SUCCEEDED, 3))).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('exit_code'),
    });
    await expect(
      m.cluster.completeTask({ ...completion(t.taskId, assignmentId), outputFiles: [{ path: 'x', size: 1, sha256: 'nothex' }] }),
    ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('output_files[0].sha256') });
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });
});

describe('assignment refused by the worker', () => {
  it('UNAVAILABLE: the task goes back to QUEUED with the reason, the attempt counted, resources released', async () => {
    const w = await setup();
    w.refuse = { code: Status.UNAVAILABLE, message: 'docker daemon restarting' };
    const t = await submit(m);
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);
    const queued = await waitFor(
      async () => {
        const x = await getTask(m, t.taskId);
        return x.status === TaskStatus.TASK_STATUS_QUEUED && x.attempt === 1 ? x : undefined;
      },
      { what: 'task requeued' },
    );
    expect(queued.reason).toContain('docker daemon restarting');
    expect(queued.reason).toContain('w1');
    expect(queued).toMatchObject({ assignmentId: '', workerId: '' });
    expect((await workerView(m, 'w1'))!.allocated).toEqual(ZERO);
    expect((await m.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 })).tasks).toMatchObject([
      { taskId: t.taskId, attempt: 1 },
    ]);

    // The next placement is the next attempt.
    w.refuse = undefined;
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);
    expect((await getTask(m, t.taskId)).attempt).toBe(2);
  });

  it('FAILED_PRECONDITION: the task FAILS with the worker\'s message and is not retried', async () => {
    const w = await setup();
    w.refuse = { code: Status.FAILED_PRECONDITION, message: 'this worker does not allow network access' };
    const t = await submit(m, { network: true });
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);
    const failed = await waitForStatus(m, t.taskId, TaskStatus.TASK_STATUS_FAILED);
    expect(failed.reason).toContain('this worker does not allow network access');
    expect(failed.finishedAt).toBeInstanceOf(Date);
    expect((await workerView(m, 'w1'))!.allocated).toEqual(ZERO);
  });
});

describe('lost workers', () => {
  const fast = { WORKER_TTL_MS: '600', WORKER_HEARTBEAT_MS: '200' };

  it('a worker whose heartbeats stop is LOST and its RUNNING task is QUEUED again for another attempt', async () => {
    const w = await setup(fast);
    w.startHeartbeats(m, 150);
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    w.stopHeartbeats();

    const queued = await waitForStatus(m, t.taskId, TaskStatus.TASK_STATUS_QUEUED);
    expect(queued.reason).toContain('lost');
    expect(queued.reason).toContain('attempt 2 of 3');
    expect(queued).toMatchObject({ assignmentId: '', workerId: '', attempt: 1 });
    expect((await workerView(m, 'w1'))!.state).toBe(3 /* WORKER_STATE_LOST */);
    expect((await m.tasks.listWorkers({ includeLost: false })).workers).toEqual([]);
    expect((await m.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 })).workers).toEqual([]);

    // The lost worker must learn it has to register again, and its late result is refused.
    expect(await m.cluster.heartbeat({ workerId: 'w1', running: [] })).toEqual({ known: false, stale: [] });
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId))).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });

    // Back again, reporting the attempt it still runs: that one is stale now.
    const { stale } = await w.register(m, undefined, [{ taskId: t.taskId, assignmentId }]);
    expect(stale).toEqual([{ taskId: t.taskId, assignmentId }]);
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);
    expect((await getTask(m, t.taskId)).attempt).toBe(2);
  });

  it('with TASK_MAX_ATTEMPTS=1 the task of a lost worker FAILS instead', async () => {
    const w = await setup({ ...fast, TASK_MAX_ATTEMPTS: '1' });
    w.startHeartbeats(m, 150);
    const t = await submit(m);
    await startRunning(m, w, t.taskId);
    w.stopHeartbeats();
    const failed = await waitForStatus(m, t.taskId, TaskStatus.TASK_STATUS_FAILED);
    expect(failed.reason).toContain('lost');
    expect(failed.reason).toContain('gave up after 1 attempt');
    expect(failed.finishedAt).toBeInstanceOf(Date);
  });

  it('heartbeats keep a worker alive past the TTL', async () => {
    const w = await setup(fast);
    w.startHeartbeats(m, 100);
    const t = await submit(m);
    await startRunning(m, w, t.taskId);
    // Lost-detection runs several times in this span; the task must still be running throughout.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await workerView(m, 'w1'))!.state).toBe(1 /* WORKER_STATE_ALIVE */);
    expect((await getTask(m, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });
});

describe('registration and heartbeats', () => {
  it('a worker re-registering without its running task gets the task requeued and its capacity back', async () => {
    const w = await setup();
    const t = await submit(m, { resources: { cpu: 3 } });
    const assignmentId = await startRunning(m, w, t.taskId);
    const { stale } = await w.register(m);
    expect(stale).toEqual([]);
    const queued = await getTask(m, t.taskId);
    expect(queued).toMatchObject({ status: TaskStatus.TASK_STATUS_QUEUED, assignmentId: '' });
    expect(queued.reason).toContain('restarted');
    expect((await workerView(m, 'w1'))!.allocated).toEqual(ZERO);
    await expect(m.cluster.completeTask(completion(t.taskId, assignmentId))).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });
  });

  it('a worker re-registering with its current task keeps it and its reservation; unknown assignments come back stale', async () => {
    const w = await setup();
    const t = await submit(m, { resources: { cpu: 3 } });
    const assignmentId = await startRunning(m, w, t.taskId);
    const ghost = { taskId: '0190a000-0000-7000-8000-000000000000', assignmentId: '0190a000-0000-7000-8000-000000000001' };
    const { stale } = await w.register(m, undefined, [{ taskId: t.taskId, assignmentId }, ghost]);
    expect(stale).toEqual([ghost]);
    expect(await getTask(m, t.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING, assignmentId });
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(3);
  });

  it('heartbeats give back a reservation no task explains (a master died mid-placement), keeping the real ones', async () => {
    const w = await setup({ WORKER_TTL_MS: '600' });
    const t = await submit(m, { resources: { cpu: 2 } });
    await startRunning(m, w, t.taskId);
    const held = (await workerView(m, 'w1'))!.allocated!;
    expect(held.cpu).toBe(2);
    // What a master that died after reserving, before recording the task, leaves behind.
    const sideDoor = await openSqliteStore(join(m.dataDir.path, 'master', 'cloudai.db'));
    try {
      expect(await sideDoor.reserveOnWorker('w1', { cpuMillis: 1000, memoryMb: 1024, storageMb: 0, gpu: 0 })).toBe(true);
    } finally {
      await sideDoor.close();
    }
    expect((await workerView(m, 'w1'))!.allocated).toEqual({ ...held, cpu: 3, memoryGb: (held.memoryGb ?? 0) + 1 });
    // A heartbeat notices; the reset waits until the difference has stood for WORKER_TTL_MS.
    await m.cluster.heartbeat({ workerId: 'w1', running: w.running() });
    expect((await workerView(m, 'w1'))!.allocated!.cpu).toBe(3);
    // A task placed meanwhile keeps its reservation through the repair.
    w.startHeartbeats(m, 100);
    const second = await submit(m, { resources: { cpu: 1 } });
    await startRunning(m, w, second.taskId);
    await waitFor(async () => ((await workerView(m, 'w1'))!.allocated!.cpu === 3 ? true : undefined), {
      what: 'the leaked reservation to be reset while the second task runs',
    });
    w.stopHeartbeats();
    const now = (await workerView(m, 'w1'))!.allocated!;
    expect(now.cpu).toBe(3); // 2 + 1: both real reservations kept
    expect(now.memoryGb).toBe(2 * (held.memoryGb ?? 0));
    expect(await getTask(m, t.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING });
    expect(await getTask(m, second.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING });
  });

  it('a heartbeat reports back assignments that are no longer current, e.g. of a cancelled task', async () => {
    const w = await setup();
    const t = await submit(m);
    const assignmentId = await startRunning(m, w, t.taskId);
    const running = [{ taskId: t.taskId, assignmentId }];
    expect(await m.cluster.heartbeat({ workerId: 'w1', running })).toEqual({ known: true, stale: [] });
    await m.tasks.cancelTask({ taskId: t.taskId, reason: '' });
    expect(await m.cluster.heartbeat({ workerId: 'w1', running })).toEqual({ known: true, stale: running });
  });

  it('a heartbeat from an unknown worker answers known=false', async () => {
    await setup();
    expect(await m.clusterAs('never-registered').heartbeat({ workerId: 'never-registered', running: [] })).toEqual({ known: false, stale: [] });
  });

  it('refuses registrations with a bad id, address or capacity', async () => {
    m = await master();
    const reg = (over: object) =>
      m.cluster.registerWorker({ workerId: 'w1', address: '127.0.0.1:1', capacity: { cpu: 1, memoryGb: 1, storageGb: 1, gpu: 0 }, running: [], version: '', ...over });
    await expect(reg({ workerId: '../w' })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('worker_id') });
    await expect(reg({ address: 'no-port' })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('address') });
    await expect(reg({ capacity: { cpu: -1, memoryGb: 1, storageGb: 1, gpu: 0 } })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('capacity.cpu'),
    });
    await expect(reg({ capacity: { cpu: NaN, memoryGb: 1, storageGb: 1, gpu: 0 } })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
    });
    expect((await m.tasks.listWorkers({ includeLost: true })).workers).toEqual([]);
  });
});
