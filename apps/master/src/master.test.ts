import { describe, expect, it } from 'vitest';
import {
  completion,
  getTask,
  place,
  startRunning,
  submit,
  TaskStatus,
  useMasters,
  workerView,
  type TestMaster,
} from './testing/harness.js';

const { master, registeredWorker } = useMasters();

async function restart(old: TestMaster, env: Record<string, string> = {}) {
  await old.stop();
  return master(env, old.dataDir);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Master lifecycle', () => {
  it('listens on the port it was given 0 for, and stop() is idempotent', async () => {
    const m = await master();
    expect(m.master.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(m.master.address).not.toBe('127.0.0.1:0');
    await m.stop();
    await m.master.stop();
  });

  it('keeps tasks, workers and reservations across a restart on the same data dir', async () => {
    const m1 = await master();
    const w = await registeredWorker(m1, 'w1', { cpu: 8, memoryGb: 32, storageGb: 100, gpu: 0 });
    const queued = await submit(m1, { taskName: 'waits' }, 'alice');
    const running = await submit(m1, { resources: { cpu: 2, memoryGb: 4 } }, 'alice');
    const assignmentId = await startRunning(m1, w, running.taskId);
    const before = await Promise.all([getTask(m1, queued.taskId, 'alice'), getTask(m1, running.taskId, 'alice')]);

    const m2 = await restart(m1);
    expect(await getTask(m2, queued.taskId, 'alice')).toEqual(before[0]);
    expect(await getTask(m2, running.taskId, 'alice')).toEqual(before[1]);
    const listed = await m2.tasks.listTasks({ statuses: [], taskName: '', limit: 0, pageToken: '' });
    expect(listed.tasks).toEqual([]); // they belong to alice, not to the default user
    expect(await workerView(m2, 'w1')).toMatchObject({
      state: 1 /* ALIVE */,
      address: w.address,
      capacity: { cpu: 8, memoryGb: 32, storageGb: 100, gpu: 0 },
      allocated: { cpu: 2, memoryGb: 4, storageGb: 1, gpu: 0 },
      taskIds: [running.taskId],
    });

    // The new master accepts the running attempt's report and can place the queued task.
    await m2.cluster.completeTask(completion(running.taskId, assignmentId));
    expect((await getTask(m2, running.taskId, 'alice')).status).toBe(TaskStatus.TASK_STATUS_SUCCEEDED);
    expect((await place(m2, queued.taskId, 'w1')).committed).toBe(true);
  });

  // Schedulers keep polling with the generation they last saw; a restarted
  // master that starts counting from 1 again answers them with a generation
  // that goes backwards, and their first long poll waits out its whole wait_ms
  // although tasks are queued.
  it('never hands out a generation lower than one it handed out before a restart', async () => {
    const m1 = await master();
    for (let i = 0; i < 5; i++) await submit(m1);
    const { generation: before } = await m1.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 });
    const m2 = await restart(m1);
    const after = await m2.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 });
    expect(after.tasks).toHaveLength(5);
    expect(after.generation).toBeGreaterThanOrEqual(before);
  });

  // The design says the master can restart at any time and workers simply
  // re-register. Time the master was down is not time the worker was silent:
  // a worker that heartbeats on schedule once the master is back must not be
  // declared LOST (which requeues and later kills everything it runs).
  it('does not declare a worker LOST for the time the master itself was down', async () => {
    const env = { WORKER_TTL_MS: '600', WORKER_HEARTBEAT_MS: '200' };
    const m1 = await master(env);
    const w = await registeredWorker(m1);
    w.startHeartbeats(m1, 150);
    const t = await submit(m1);
    await startRunning(m1, w, t.taskId);
    w.stopHeartbeats();

    await m1.stop();
    await sleep(1000); // downtime longer than the TTL
    const m2 = await master(env, m1.dataDir);
    w.startHeartbeats(m2, 300); // well within the TTL, counted from the master's start
    await sleep(1500);

    expect((await workerView(m2, 'w1'))!.state).toBe(1 /* ALIVE */);
    expect((await getTask(m2, t.taskId)).status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });
});
