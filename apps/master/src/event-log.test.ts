import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { TaskProgress, type Event } from '@cloudai/proto';
import { waitFor } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import {
  completion,
  getTask,
  startRunning,
  submit,
  TaskStatus,
  useMasters,
  waitForStatus,
  type TestMaster,
} from './testing/harness.js';

const { master, registeredWorker } = useMasters();

/** Every stored event matching `filter`, as the admin sees them. */
async function events(m: TestMaster, filter: { taskId?: string; workerId?: string } = {}): Promise<Event[]> {
  const res = await m.events.listEvents({ filter: { taskId: '', workerId: '', ...filter }, afterSeq: 0, limit: 1000, latest: false });
  return res.events;
}

/** Waits until the events matching `filter` include every kind in `kinds` (events are written in the background). */
function eventsUntil(m: TestMaster, filter: { taskId?: string; workerId?: string }, ...kinds: string[]): Promise<Event[]> {
  return waitFor(
    async () => {
      const found = await events(m, filter);
      return kinds.every((k) => found.some((e) => e.kind === k)) ? found : undefined;
    },
    { what: `events ${kinds.join(', ')}` },
  );
}

describe('the master records events', () => {
  it("a task's whole life: each move with its worker, attempt and reason, and the worker's progress, in order", async () => {
    const m = await master();
    const w = await registeredWorker(m);
    const t = await submit(m, { image: 'busybox:1' }, 'alice');
    const assignmentId = await startRunning(m, w, t.taskId);
    const worker = m.clusterAs('w1');
    await worker.reportTaskStatus({
      taskId: t.taskId,
      assignmentId,
      status: TaskStatus.TASK_STATUS_UPLOADING,
      reason: '',
      containerId: 'c1',
      outputBytes: 1.5 * 1024 ** 3,
      outputFiles: 3,
    });
    expect((await getTask(m, t.taskId, 'alice')).reason).toBe('uploading 1.5 GB (3 files)');
    await worker.reportProgress({
      taskId: t.taskId,
      assignmentId,
      progress: TaskProgress.TASK_PROGRESS_OUTPUTS_STORED,
      bytes: 1.5 * 1024 ** 3,
      files: 3,
      durationMs: 2100,
    });
    await worker.completeTask(completion(t.taskId, assignmentId, { outputBytes: 1.5 * 1024 ** 3 }));

    const life = await eventsUntil(m, { taskId: t.taskId }, 'task.succeeded');
    expect(life.map((e) => [e.kind, e.message, e.workerId, e.attempt])).toEqual([
      ['task.queued', 'queued (busybox:1)', '', 0],
      ['task.scheduled', 'scheduled on w1 (attempt 1)', 'w1', 1],
      ['task.started', 'started on w1', 'w1', 1],
      ['task.uploading', 'uploading 1.5 GB (3 files)', 'w1', 1],
      ['task.outputs_stored', 'stored 3 files (1.5 GB) in 2.1 s', 'w1', 1],
      ['task.succeeded', 'succeeded (exit 0)', 'w1', 1],
    ]);
    for (const e of life) expect(e).toMatchObject({ taskId: t.taskId, userId: 'alice' });
    expect(life[0]).toMatchObject({ actor: 'alice' });
    // What the message says already is not repeated as a reason ("placed on w1", "uploading 1.5 GB").
    expect(life.map((e) => e.reason)).toEqual(['', '', '', '', '', '']);
    expect(life.map((e) => e.seq)).toEqual([...life.map((e) => e.seq)].sort((a, b) => a - b));
    // Never the task's environment or anything secret: messages are about what happened.
    expect(JSON.stringify(life)).not.toContain('cai_');
  });

  it('a lost worker: the worker event, then the task taken back with the reason, and its next attempt', async () => {
    const m = await master({ WORKER_TTL_MS: '600', WORKER_HEARTBEAT_MS: '200' });
    const w = await registeredWorker(m);
    w.startHeartbeats(m, 150);
    const t = await submit(m);
    await startRunning(m, w, t.taskId);
    w.stopHeartbeats();
    await waitForStatus(m, t.taskId, TaskStatus.TASK_STATUS_QUEUED);
    await w.register(m);
    await startRunning(m, w, t.taskId);

    const life = await eventsUntil(m, { taskId: t.taskId }, 'task.retried', 'task.started');
    expect(life.map((e) => [e.kind, e.attempt])).toEqual([
      ['task.queued', 0],
      ['task.scheduled', 1],
      ['task.started', 1],
      ['task.retried', 1],
      ['task.scheduled', 2],
      ['task.started', 2],
    ]);
    const retried = life[3]!;
    expect(retried.workerId).toBe('w1');
    expect(retried.reason).toMatch(/^worker w1 was lost \(no heartbeat for 1 s\); will retry \(attempt 2 of 3\)$/);
    const workerEvents = await eventsUntil(m, { workerId: 'w1' }, 'worker.lost');
    expect(workerEvents.filter((e) => !e.taskId).map((e) => [e.kind, e.reason])).toEqual([
      ['worker.registered', ''],
      ['worker.lost', 'no heartbeat for 1 s'],
      ['worker.registered', 'registered again (was LOST)'],
    ]);
  });

  it('a store that cannot take events fails no operation: the failures are logged and counted', async () => {
    const m = await master();
    const before = await submit(m, {}, 'alice');
    await eventsUntil(m, { taskId: before.taskId }, 'task.queued');
    // A real fault: the table is gone under the master.
    const db = new DatabaseSync(join(m.dataDir.path, 'master', 'cloudai.db'));
    db.exec('DROP TABLE EVENTS');
    db.close();
    const t = await submit(m, {}, 'alice');
    expect(t.status).toBe(TaskStatus.TASK_STATUS_QUEUED);
    await m.tasks.cancelTask({ taskId: t.taskId, reason: '' }, m.as('alice'));
    await waitFor(() => (m.master.eventFailures >= 2 ? true : undefined), { what: 'the failed writes to be counted' });
    expect((await getTask(m, t.taskId, 'alice')).status).toBe(TaskStatus.TASK_STATUS_CANCELLED);
  });

  it('removes events older than EVENT_RETENTION_DAYS, sweeping every RETENTION_SWEEP_MS', async () => {
    // 0.00002 days is 1.7 s.
    const m = await master({ EVENT_RETENTION_DAYS: '0.00002', RETENTION_SWEEP_MS: '100' });
    const t = await submit(m, {}, 'alice');
    await eventsUntil(m, { taskId: t.taskId }, 'task.queued');
    await waitFor(async () => ((await events(m, { taskId: t.taskId })).length === 0 ? true : undefined), {
      what: 'the task.queued event to be removed',
    });
    // New events are still recorded after a sweep.
    await m.tasks.cancelTask({ taskId: t.taskId, reason: 'enough' }, m.as('alice'));
    const after = await eventsUntil(m, { taskId: t.taskId }, 'task.cancelled');
    expect(after.map((e) => [e.kind, e.reason])).toEqual([['task.cancelled', 'enough']]);
  });

  it("admin actions: users and tokens, a drain, and an admin's cancel of another user's task", async () => {
    const m = await master();
    const bobs = await submit(m, {}, 'bob');
    const made = await m.identity.createUser({ userName: 'carol' });
    await m.identity.setUserDisabled({ userName: 'carol', disabled: true });
    await m.identity.revokeToken({ tokenId: made.token!.tokenId });
    await registeredWorker(m);
    await m.tasks.drainWorker({ workerId: 'w1', drain: true }, m.as('admin'));
    await m.tasks.cancelTask({ taskId: bobs.taskId, reason: 'maintenance' }, m.as('admin'));

    const all = await eventsUntil(m, {}, 'task.cancelled_by_admin', 'worker.drained', 'token.revoked');
    const about = (kind: string) => all.filter((e) => e.kind === kind);
    expect(about('user.created').find((e) => e.userId === 'carol')).toMatchObject({ actor: 'admin', message: 'user carol created (role user)' });
    expect(about('user.created').find((e) => e.userId === 'admin')).toMatchObject({ actor: '', reason: 'bootstrap' });
    expect(about('user.disabled')).toEqual([expect.objectContaining({ userId: 'carol', actor: 'admin' })]);
    expect(about('token.revoked')).toEqual([
      expect.objectContaining({ userId: 'carol', actor: 'admin', message: `token ${made.token!.tokenId} of carol revoked` }),
    ]);
    expect(about('token.created').map((e) => e.message)).toContain(`token ${made.token!.tokenId} of carol created`);
    expect(about('worker.drained')).toEqual([expect.objectContaining({ workerId: 'w1', reason: 'by admin' })]);
    expect(about('task.cancelled_by_admin')).toEqual([
      expect.objectContaining({
        taskId: bobs.taskId,
        userId: 'bob',
        actor: 'admin',
        message: 'admin admin cancelled the task of bob',
        reason: 'maintenance',
      }),
    ]);
    // The owner's own cancel is a transition, not an admin action.
    const own = await submit(m, {}, 'bob');
    await m.tasks.cancelTask({ taskId: own.taskId, reason: '' }, m.as('bob'));
    const ownLife = await eventsUntil(m, { taskId: own.taskId }, 'task.cancelled');
    expect(ownLife.map((e) => e.kind)).toEqual(['task.queued', 'task.cancelled']);
    expect(ownLife[1]!.reason).toBe('cancelled by bob');
  });
});
