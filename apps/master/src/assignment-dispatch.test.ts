import { Writable } from 'node:stream';
import { createLogger } from '@cloudai/logger';
import { waitFor } from '@cloudai/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { getTask, place, submit, TaskStatus, useMasters, workerView } from './testing/harness.js';

const ZERO = { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 };
const { master, worker, defer } = useMasters();

describe('a burst of assignments to one worker', () => {
  // 10,000 assignments at once used to open 10,000 streams on the one
  // connection to the worker: calls timed out while only queued (and the
  // session broke under load), and each lost send burned a task's attempt.
  it('delivers 10,000 placements committed at once, each exactly once, with a bounded number in flight', async () => {
    const m = await master();
    const w = await worker();
    // A worker that answers 1,000 assignments a second, one after another:
    // 10 s for the whole burst, twice the per-call deadline.
    let nextFree = performance.now();
    w.beforeAnswer = () => {
      nextFree = Math.max(nextFree, performance.now()) + 1;
      return sleep(nextFree - performance.now());
    };
    await w.register(m, { cpu: 10_000, memoryGb: 10_000, storageGb: 0, gpu: 0 });
    w.startHeartbeats(m, 2_000);
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i += 250) {
      const batch = await Promise.all(Array.from({ length: 250 }, () => submit(m, { resources: { cpu: 1, memoryGb: 1, storageGb: 0 } })));
      ids.push(...batch.map((t) => t.taskId));
    }
    // Committed as a scheduler does: one batch after another, without waiting for deliveries.
    const committed = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const placements = ids.slice(i, i + 1000).map((taskId) => ({ taskId, workerId: 'w1' }));
      const { results } = await m.scheduler.commitPlacements({ placements, unplaced: [] });
      committed.push(...results.filter((r) => r.committed));
    }
    expect(committed).toHaveLength(10_000);

    // A call answered after its deadline is sent again (the worker takes the
    // same id as a duplicate), so count distinct assignments, not calls.
    const delivered = () => new Set(w.assigned.map((a) => a.assignment!.assignmentId));
    await waitFor(() => (delivered().size >= 10_000 ? true : undefined), { timeoutMs: 300_000, what: '10,000 assignments' });
    expect(delivered()).toEqual(new Set(committed.map((c) => c.assignmentId)));
    expect(w.maxInFlight).toBeLessThanOrEqual(32);
    const { tasks } = await m.tasks.listTasks({ statuses: [TaskStatus.TASK_STATUS_SCHEDULED], limit: 1000 });
    expect(tasks).toHaveLength(1000);
    expect(tasks.every((t) => t.attempt === 1)).toBe(true);
    const counts = await m.tasks.listTasks({ statuses: [TaskStatus.TASK_STATUS_QUEUED, TaskStatus.TASK_STATUS_FAILED], limit: 10 });
    expect(counts.tasks).toEqual([]);
  }, 600_000);
});

describe('an assignment the worker does not answer', () => {
  const quick = { dispatch: { callDeadlineMs: 300, deliveryWindowMs: 1_500, retryInitialDelayMs: 50, retryMaxDelayMs: 200 } };

  it('is sent again with the same assignment id, and counts as one attempt once delivered', async () => {
    const m = await master({}, undefined, quick);
    const w = await worker();
    const seen: string[] = [];
    w.beforeAnswer = async (req) => {
      seen.push(req.assignment!.assignmentId);
      // The first call is answered only after the master gave up waiting for it.
      if (seen.length === 1) await sleep(600);
    };
    await w.register(m);
    const t = await submit(m);
    const r = await place(m, t.taskId, 'w1');
    await waitFor(() => w.assignmentFor(t.taskId), { what: 'the resent assignment' });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen)).toEqual(new Set([r.assignmentId]));
    expect(await getTask(m, t.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_SCHEDULED, attempt: 1 });
  });

  it('goes back to the queue without using up an attempt, and the worker gets no placements for a while', async () => {
    const m = await master({}, undefined, { dispatch: { ...quick.dispatch, unreachableForMs: 60_000 } });
    const w = await worker();
    await w.register(m);
    // Nothing listens at its address any more: every call fails without an answer.
    await w.stop();
    const t = await submit(m);
    expect((await place(m, t.taskId, 'w1')).committed).toBe(true);

    const queued = await waitFor(
      async () => {
        const x = await getTask(m, t.taskId);
        return x.status === TaskStatus.TASK_STATUS_QUEUED ? x : undefined;
      },
      { what: 'the task back in the queue' },
    );
    expect(queued).toMatchObject({ attempt: 0, assignmentId: '', workerId: '' });
    expect(queued.reason).toContain('w1 did not answer the assignment');
    expect((await workerView(m, 'w1'))!.allocated).toEqual(ZERO);

    const snapshot = await m.scheduler.getSnapshot({ maxTasks: 0, afterGeneration: 0, waitMs: 0 });
    expect(snapshot.tasks.map((x) => x.taskId)).toEqual([t.taskId]);
    expect(snapshot.workers).toEqual([]);
    expect(await place(m, t.taskId, 'w1')).toMatchObject({ committed: false, reason: 'worker w1 does not answer the master' });
  });

  it('a stopping master stops sending, and its delivery handlers finish before the store closes', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const log = createLogger({ name: 'master-test', level: 'warn', destination: sink });
    const first = await master({}, undefined, quick, log);
    const w = await worker();
    const hang = new AbortController();
    defer(() => hang.abort());
    w.beforeAnswer = () => sleep(60_000, undefined, { signal: hang.signal }).catch(() => undefined);
    await w.register(first);
    const t = await submit(first);
    expect((await place(first, t.taskId, 'w1')).committed).toBe(true);
    await waitFor(() => (w.inFlight > 0 ? true : undefined), { what: 'the assignment on its way' });
    await first.stop();

    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    // Still SCHEDULED: the next master takes it back once the worker says it does not know it.
    const again = await master({}, first.dataDir);
    expect(await getTask(again, t.taskId)).toMatchObject({ status: TaskStatus.TASK_STATUS_SCHEDULED, attempt: 1 });
  });
});
