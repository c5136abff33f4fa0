import { join } from 'node:path';
import { LogStream } from '@cloudai/proto';
import { openSqliteStore } from '@cloudai/store';
import { scrapeMetrics, type Scrape } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import { completion, place, startRunning, submit, TaskStatus, useMasters, type TestMaster } from './testing/harness.js';

// The master's metrics from real moves: tasks submitted, placed, started,
// uploaded and completed through the master's own gRPC API by a fake
// worker and scheduler, and the master's /metrics read as Prometheus would.

const { master, registeredWorker, defer } = useMasters();

async function metricsOf(m: TestMaster): Promise<Scrape> {
  const address = m.master.metricsAddress;
  if (!address) throw new Error('the master serves no metrics');
  return scrapeMetrics(address);
}

/** Scrapes until `check` passes: the gauges read the store at most once a second. */
async function eventually(m: TestMaster, check: (s: Scrape) => void): Promise<void> {
  await expect.poll(async () => {
    check(await metricsOf(m));
    return true;
  }, { timeout: 10_000 }).toBe(true);
}

const GiB = 2 ** 30;

describe('master metrics', () => {
  it('count submissions, ends by status and class, phases and log bytes, and report tasks, workers and capacity', async () => {
    const m = await master({ METRICS_ADDR: '127.0.0.1:0' });
    expect(m.master.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    const before = await metricsOf(m);
    // Present from the start, at 0: Prometheus' increase() then sees the first of each.
    expect(before.value('cloudai_tasks_submitted_total')).toBe(0);
    expect(before.value('cloudai_tasks_finished_total', { status: 'SUCCEEDED', failure_class: 'none' })).toBe(0);
    expect(before.value('cloudai_tasks_finished_total', { status: 'FAILED', failure_class: 'oom' })).toBe(0);
    for (const phase of ['queued', 'starting', 'running', 'uploading']) {
      expect(before.value('cloudai_task_phase_seconds_count', { phase })).toBe(0);
    }
    expect(before.value('cloudai_tasks', { status: 'QUEUED' })).toBe(0);
    expect(before.value('cloudai_workers', { state: 'ALIVE' })).toBe(0);
    // The default process metrics and the gRPC server's, in the same registry.
    expect(before.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(before.value('cloudai_grpc_server_handled_total', { service: 'cloudai.v1.IdentityService', code: 'OK' })).toBeGreaterThan(0);

    const w = await registeredWorker(m, 'w1', { cpu: 4, memoryGb: 16, storageGb: 100, gpu: 1 });
    const succeeds = await submit(m, { resources: { cpu: 1.5, memoryGb: 2, storageGb: 1, gpu: 1 } });
    const fails = await submit(m);
    const cancelled = await submit(m);
    await eventually(m, (s) => {
      expect(s.value('cloudai_tasks_submitted_total')).toBe(3);
      expect(s.value('cloudai_tasks', { status: 'QUEUED' })).toBe(3);
      expect(s.value('cloudai_workers', { state: 'ALIVE' })).toBe(1);
      expect(s.value('cloudai_workers', { state: 'LOST' })).toBe(0);
      expect(s.value('cloudai_worker_capacity', { resource: 'cpu' })).toBe(4);
      expect(s.value('cloudai_worker_capacity', { resource: 'memory_bytes' })).toBe(16 * GiB);
      expect(s.value('cloudai_worker_capacity', { resource: 'storage_bytes' })).toBe(100 * GiB);
      expect(s.value('cloudai_worker_capacity', { resource: 'gpu' })).toBe(1);
      expect(s.value('cloudai_worker_allocated', { resource: 'cpu' })).toBe(0);
    });

    // One task through every phase: placed, started, uploading, SUCCEEDED.
    const a1 = await startRunning(m, w, succeeds.taskId);
    await eventually(m, (s) => {
      expect(s.value('cloudai_tasks', { status: 'RUNNING' })).toBe(1);
      expect(s.value('cloudai_worker_allocated', { resource: 'cpu' })).toBe(1.5);
      expect(s.value('cloudai_worker_allocated', { resource: 'memory_bytes' })).toBe(2 * GiB);
      expect(s.value('cloudai_worker_allocated', { resource: 'gpu' })).toBe(1);
    });
    await m.cluster.appendLogs({
      taskId: succeeds.taskId,
      assignmentId: a1,
      chunks: [{ seq: 0, stream: LogStream.LOG_STREAM_STDOUT, ts: new Date(), data: Buffer.from('hello, metrics\n') }],
      droppedBytes: 1000,
    });
    const status = { taskId: succeeds.taskId, assignmentId: a1, reason: '', containerId: 'c1' };
    await m.cluster.reportTaskStatus({ ...status, status: TaskStatus.TASK_STATUS_UPLOADING });
    await m.cluster.completeTask(completion(succeeds.taskId, a1));

    // One that fails with its exit code straight from RUNNING (no outputs to upload).
    const a2 = await startRunning(m, w, fails.taskId);
    await m.cluster.completeTask(
      completion(fails.taskId, a2, { status: TaskStatus.TASK_STATUS_FAILED, exitCode: 3, reason: 'exited with code 3' }),
    );
    // And one cancelled while still queued: none of its phases ended normally.
    await m.tasks.cancelTask({ taskId: cancelled.taskId, reason: '' });

    await eventually(m, (s) => {
      expect(s.value('cloudai_tasks_finished_total', { status: 'SUCCEEDED', failure_class: 'none' })).toBe(1);
      expect(s.value('cloudai_tasks_finished_total', { status: 'FAILED', failure_class: 'exit_code' })).toBe(1);
      expect(s.value('cloudai_tasks_finished_total', { status: 'CANCELLED', failure_class: 'cancelled' })).toBe(1);
      expect(s.value('cloudai_tasks_finished_total')).toBe(3);
      expect(s.value('cloudai_task_phase_seconds_count', { phase: 'queued' })).toBe(2);
      expect(s.value('cloudai_task_phase_seconds_count', { phase: 'starting' })).toBe(2);
      expect(s.value('cloudai_task_phase_seconds_count', { phase: 'running' })).toBe(2);
      expect(s.value('cloudai_task_phase_seconds_count', { phase: 'uploading' })).toBe(1);
      expect(s.value('cloudai_log_bytes_total')).toBe('hello, metrics\n'.length);
      expect(s.value('cloudai_log_dropped_bytes_total')).toBe(1000);
      expect(s.value('cloudai_tasks', { status: 'QUEUED' })).toBe(0);
      expect(s.value('cloudai_tasks', { status: 'SUCCEEDED' })).toBe(1);
      expect(s.value('cloudai_tasks', { status: 'FAILED' })).toBe(1);
      expect(s.value('cloudai_tasks', { status: 'CANCELLED' })).toBe(1);
      // Everything the tasks held is given back.
      expect(s.value('cloudai_worker_allocated', { resource: 'cpu' })).toBe(0);
      expect(s.value('cloudai_worker_allocated', { resource: 'gpu' })).toBe(0);
    });

    // Each phase is timed by the task's stored timestamps.
    const store = await openSqliteStore(join(m.dataDir.path, 'master', 'cloudai.db'));
    defer(() => store.close());
    const t1 = (await store.getTask(succeeds.taskId))!;
    const t2 = (await store.getTask(fails.taskId))!;
    const s = await metricsOf(m);
    const sum = (phase: string) => s.value('cloudai_task_phase_seconds_sum', { phase });
    expect(sum('queued')).toBeCloseTo(seconds(t1.queuedAt, t1.scheduledAt) + seconds(t2.queuedAt, t2.scheduledAt), 6);
    expect(sum('starting')).toBeCloseTo(seconds(t1.scheduledAt, t1.startedAt) + seconds(t2.scheduledAt, t2.startedAt), 6);
    expect(sum('running')).toBeCloseTo(seconds(t1.startedAt, t1.uploadingAt) + seconds(t2.startedAt, t2.finishedAt), 6);
    expect(sum('uploading')).toBeCloseTo(seconds(t1.uploadingAt, t1.finishedAt), 6);
    expect(t2.uploadingAt).toBeNull();
  });

  it('time a retried task in the queue from the retry that put it back, as its stored timestamps say', async () => {
    const m = await master({ METRICS_ADDR: '127.0.0.1:0' });
    const w = await registeredWorker(m);
    const store = await openSqliteStore(join(m.dataDir.path, 'master', 'cloudai.db'));
    defer(() => store.close());
    const { taskId } = await submit(m);
    await startRunning(m, w, taskId);
    const firstPlaced = (await store.getTask(taskId))!;
    // The worker comes back without the task: it goes back to the queue for a second attempt.
    await w.register(m);
    await expect.poll(async () => (await store.getTask(taskId))?.status).toBe('QUEUED');
    const requeued = (await store.getTask(taskId))!;
    expect(requeued.queuedAt!.getTime()).toBeGreaterThanOrEqual(firstPlaced.scheduledAt!.getTime());
    expect(requeued).toMatchObject({ scheduledAt: null, startedAt: null, uploadingAt: null });
    expect((await place(m, taskId, w.workerId)).committed).toBe(true);
    const secondPlaced = (await store.getTask(taskId))!;

    const s = await metricsOf(m);
    expect(s.value('cloudai_task_phase_seconds_count', { phase: 'queued' })).toBe(2);
    const stints = seconds(firstPlaced.submittedAt, firstPlaced.scheduledAt) + seconds(requeued.queuedAt, secondPlaced.scheduledAt);
    expect(s.value('cloudai_task_phase_seconds_sum', { phase: 'queued' })).toBeCloseTo(stints, 6);
    // The first attempt started; its running phase ended with the worker, which says nothing of how long tasks run.
    expect(s.value('cloudai_task_phase_seconds_count', { phase: 'starting' })).toBe(1);
    expect(s.value('cloudai_task_phase_seconds_count', { phase: 'running' })).toBe(0);
  });
});

function seconds(from: Date | null, to: Date | null): number {
  return (to!.getTime() - from!.getTime()) / 1000;
}
