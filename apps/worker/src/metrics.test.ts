import { scrapeMetrics, waitFor } from '@cloudai/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { SUCCEEDED, assignmentFor } from './testing/fake-master.js';
import { useTestWorker } from './testing/harness.js';

const fixture = useTestWorker();
const { master } = fixture;

afterEach(() => {
  master.holdLogs = undefined;
});

describe('worker metrics', () => {
  it('are off unless METRICS_ADDR is set', () => {
    expect(fixture.worker.app.metricsAddress).toBeUndefined();
  });

  it('count the containers running now, the output spooled and dropped, and the archive bytes sent to storage', async () => {
    const w = await fixture.extraWorker({ METRICS_ADDR: '127.0.0.1:0', WORKER_LOG_SPOOL_BYTES: '65536' });
    const metrics = () => scrapeMetrics(w.app.metricsAddress!);
    expect((await metrics()).value('cloudai_worker_containers_running')).toBe(0);

    // A container that runs until cancelled.
    const sleeper = assignmentFor(w.workerId, { command: ['sleep', '300'] });
    await w.client.assignTask(sleeper);
    const { taskId: sleepId, assignmentId: sleeping } = sleeper.assignment!;
    await waitFor(() => (w.app.runner.get(sleeping)?.state === 'RUNNING' ? true : undefined), { what: 'the container to run' });
    expect((await metrics()).value('cloudai_worker_containers_running')).toBe(1);
    await w.client.cancelTask({ taskId: sleepId, assignmentId: sleeping, reason: 'done with it' });
    await waitFor(() => (w.app.runner.get(sleeping) === undefined ? true : undefined), { what: 'the execution to end' });
    expect((await metrics()).value('cloudai_worker_containers_running')).toBe(0);

    // 1 MiB of output while the master takes no logs: all but the spool's 64 KiB is dropped.
    let release!: () => void;
    master.holdLogs = new Promise((r) => (release = r));
    const req = assignmentFor(w.workerId, { command: ['sh', '-c', 'head -c 1048576 /dev/zero; head -c 5000 /dev/urandom > /output/noise'] });
    const { taskId, assignmentId } = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => (w.app.runner.get(assignmentId)?.state === 'FINISHING' ? true : undefined), {
      what: 'the container to exit while logs are held',
      timeoutMs: 30_000,
    });
    // What the spool holds is on disk until the master has it.
    await waitFor(async () => (((await metrics()).value('cloudai_worker_log_spool_bytes') ?? 0) > 0 ? true : undefined), { what: 'the spool on disk' });
    release();
    const done = await waitFor(() => master.completions(taskId)[0], { what: 'completion' });
    expect(done.status).toBe(SUCCEEDED);

    const s = await metrics();
    const dropped = master.droppedBytes(taskId);
    expect(dropped).toBeGreaterThan(0);
    expect(s.value('cloudai_worker_log_dropped_bytes_total')).toBe(dropped);
    // Shipped and done: the spool is gone.
    expect(s.value('cloudai_worker_log_spool_bytes')).toBe(0);
    const sent = w.storage.uploadsOf(taskId).flatMap((u) => u.chunkSizes);
    expect(sent.reduce((a, b) => a + b, 0)).toBeGreaterThan(5000);
    // The cancelled task uploaded nothing: the counter holds exactly this task's archive.
    expect(w.storage.uploadsOf(sleepId)).toEqual([]);
    expect(s.value('cloudai_worker_upload_bytes_total')).toBe(sent.reduce((a, b) => a + b, 0));
    // Its gRPC server counts the master's calls.
    expect(s.value('cloudai_grpc_server_handled_total', { service: 'cloudai.v1.WorkerService', method: 'AssignTask', code: 'OK' })).toBe(2);
  });
});
