import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { ClientError, Status } from '@cloudai/rpc';
import { TEST_IMAGE, requireDocker, tempDir, waitFor } from '@cloudai/testing';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_WORKER_ID } from './docker-executor.js';
import { Env } from './env.js';
import { FAILED, FakeMaster, SUCCEEDED, assignmentFor } from './testing/fake-master.js';
import { startTestWorker, uniqueWorkerId, type TestWorker } from './testing/harness.js';
import { Worker } from './worker.js';

let docker: Docker;
let master: FakeMaster;
const workers: TestWorker[] = [];

beforeAll(async () => {
  docker = await requireDocker();
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
  await master?.stop();
});

afterAll(async () => {
  await master?.stop();
});

async function newWorker(env: Record<string, string> = {}): Promise<TestWorker> {
  master = await FakeMaster.start();
  const w = await startTestWorker(docker, master, env);
  workers.push(w);
  return w;
}

const ended = (w: TestWorker, assignmentId: string) =>
  waitFor(() => (w.app.runner.get(assignmentId) === undefined ? true : undefined), { what: 'execution to end' });

describe('registration and heartbeats', () => {
  it('registers with the capacity overrides and its address, then heartbeats with telemetry', async () => {
    const w = await newWorker({ WORKER_CPU: '3', WORKER_MEMORY_GB: '5.5', WORKER_STORAGE_GB: '7', WORKER_GPUS: '1' });
    const reg = await waitFor(() => master.registrations()[0], { what: 'registration' });
    expect(reg).toMatchObject({
      workerId: w.workerId,
      address: w.app.address,
      capacity: { cpu: 3, memoryGb: 5.5, storageGb: 7, gpu: 1 },
      running: [],
    });
    expect(reg.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(w.app.address).toMatch(/^127\.0\.0\.1:\d+$/);

    const beats = await waitFor(() => (master.heartbeats().length >= 2 ? master.heartbeats() : undefined), {
      what: 'two heartbeats',
    });
    for (const hb of beats) {
      expect(hb.workerId).toBe(w.workerId);
      expect(hb.running).toEqual([]);
      expect(hb.usage?.runningContainers).toBe(0);
      expect(hb.usage?.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(hb.usage?.cpuPercent).toBeLessThanOrEqual(100);
      expect(hb.usage?.memoryUsedGb).toBeGreaterThan(0);
    }
    // The interval is the one the master asked for.
    expect(w.app.agent.heartbeatIntervalMs).toBe(master.heartbeatIntervalMs);
  });

  it('uses host capacity when there are no overrides', async () => {
    await newWorker();
    const reg = await waitFor(() => master.registrations()[0], { what: 'registration' });
    expect(reg.capacity?.cpu).toBeGreaterThanOrEqual(1);
    expect(reg.capacity?.memoryGb).toBeGreaterThan(0);
    expect(reg.capacity?.storageGb).toBeGreaterThan(0);
    expect(reg.capacity?.gpu).toBe(0);
  });

  it('registers again, with its running tasks, when the master no longer knows it', async () => {
    const w = await newWorker();
    await waitFor(() => master.registrations()[0], { what: 'registration' });
    const req = assignmentFor(w.workerId, { command: ['sleep', '3600'] });
    const a = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });

    // The second heartbeat after the RUNNING report was certainly sampled
    // after the container started (the first might have been in flight).
    const reported = master.indexOf((e) => e.kind === 'status' && e.request.taskId === a.taskId);
    const running = await waitFor(
      () => master.events.slice(reported + 1).filter((e) => e.kind === 'heartbeat')[1],
      { what: 'heartbeats after RUNNING' },
    );
    expect(running.kind === 'heartbeat' && running.request.running).toEqual([
      { taskId: a.taskId, assignmentId: a.assignmentId },
    ]);
    expect(running.kind === 'heartbeat' && running.request.usage?.runningContainers).toBe(1);

    master.known = false;
    const again = await waitFor(() => master.registrations()[1], { what: 'second registration' });
    expect(again.running).toEqual([{ taskId: a.taskId, assignmentId: a.assignmentId }]);
  });

  it('stops executions the heartbeat response calls stale, without reporting them', async () => {
    const w = await newWorker();
    const req = assignmentFor(w.workerId, { command: ['sleep', '3600'] });
    const a = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });
    master.staleInHeartbeat = [{ taskId: a.taskId, assignmentId: a.assignmentId }];
    await ended(w, a.assignmentId);
    expect(master.completions(a.taskId)).toHaveLength(0);
  });
});

describe('master outages', () => {
  it('keeps retrying a completion while the master is down and delivers it when it is back', async () => {
    const w = await newWorker();
    const req = assignmentFor(w.workerId, { command: ['sleep', '2'] });
    const a = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });

    await master.stop();
    // FINISHING: the container has exited and the result is waiting for the master.
    await waitFor(() => (w.app.runner.get(a.assignmentId)?.state === 'FINISHING' ? true : undefined), {
      what: 'execution to be finishing',
    });
    expect(master.completions(a.taskId)).toHaveLength(0);

    await master.restart();
    const done = await waitFor(() => master.completions(a.taskId)[0], { what: 'completion after restart' });
    expect(done).toMatchObject({ assignmentId: a.assignmentId, status: SUCCEEDED, exitCode: 0 });
    await ended(w, a.assignmentId);
  });

  it('starts and keeps retrying registration while no master is listening', async () => {
    master = await FakeMaster.start();
    const address = master.address;
    await master.stop();
    const w = await startTestWorker(docker, master, {}, undefined, { registered: false });
    workers.push(w);
    expect(w.app.agent.state).toBe('REGISTERING');
    await master.restart();
    expect(master.address).toBe(address);
    await waitFor(() => master.registrations()[0], { what: 'registration once the master is up' });
  });
});

describe('start and shutdown', () => {
  it('removes containers an earlier process of the same worker left behind', async () => {
    const workerId = uniqueWorkerId();
    const leftover = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '3600'],
      Labels: { [LABEL_WORKER_ID]: workerId, 'cloudai.task_id': 't', 'cloudai.assignment_id': 'a' },
      HostConfig: { NetworkMode: 'none' },
    });
    await leftover.start();
    await newWorker({ WORKER_ID: workerId });
    const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_WORKER_ID}=${workerId}`] } });
    expect(list).toHaveLength(0);
  });

  it('refuses new assignments while draining but still takes cancels', async () => {
    const w = await newWorker({ WORKER_SHUTDOWN_GRACE_MS: '60000' });
    const long = assignmentFor(w.workerId, { command: ['sleep', '3600'] });
    const a = long.assignment!;
    await w.client.assignTask(long);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });

    // The running task holds the drain open (60 s grace) until it is cancelled.
    const stopping = w.app.stop();
    expect(w.app.runner.state).toBe('DRAINING');
    const refused = await w.client.assignTask(assignmentFor(w.workerId, { command: ['true'] })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ClientError);
    expect((refused as ClientError).code).toBe(Status.UNAVAILABLE);
    expect((refused as ClientError).details).toMatch(/shutting down/);

    expect(await w.client.cancelTask({ taskId: a.taskId, assignmentId: a.assignmentId, reason: '' })).toEqual({
      found: true,
    });
    await stopping;
    expect(w.app.state).toBe('STOPPED');
    expect(master.completions(a.taskId)).toHaveLength(0);
  });

  /** A worker with `env` running `sleep 3600`, once the master has the task RUNNING. */
  async function runningLongTask(env: Record<string, string>) {
    const w = await newWorker(env);
    const long = assignmentFor(w.workerId, { command: ['sleep', '3600'] });
    const a = long.assignment!;
    await w.client.assignTask(long);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });
    return { w, a };
  }

  const containersOf = (w: TestWorker) =>
    docker.listContainers({ all: true, filters: { label: [`${LABEL_WORKER_ID}=${w.workerId}`] } });

  it('on stop, stops tasks still running after the grace period and reports them FAILED "worker shut down"', async () => {
    const { w, a } = await runningLongTask({ WORKER_SHUTDOWN_GRACE_MS: '300' });

    await w.app.stop();
    expect(w.app.state).toBe('STOPPED');
    expect(master.completions(a.taskId)).toEqual([
      expect.objectContaining({ assignmentId: a.assignmentId, status: FAILED, reason: 'worker shut down' }),
    ]);
    expect(await containersOf(w)).toHaveLength(0);
  });

  // Its supervisor died, and the master with it: the drain would wait out a
  // grace nobody waits for, then report to nobody. The master re-queues the task.
  it('on stop with its parent gone, kills a running task at once, skipping the grace, and reports nothing', async () => {
    // Grace periods the test would time out on were they waited for.
    const { w, a } = await runningLongTask({ WORKER_SHUTDOWN_GRACE_MS: '3600000', WORKER_STOP_GRACE_SECONDS: '300' });

    await w.app.stop('parent-gone');
    expect(w.app.state).toBe('STOPPED');
    expect(master.completions(a.taskId)).toEqual([]);
    expect(await containersOf(w)).toHaveLength(0);
  });

  it('cuts a graceful stop short once its parent is gone: the task is killed and the first stop ends', async () => {
    const { w, a } = await runningLongTask({ WORKER_SHUTDOWN_GRACE_MS: '3600000', WORKER_STOP_GRACE_SECONDS: '300' });

    // As runService calls it: the stop for SIGTERM first, then the hurry.
    const draining = w.app.stop('signal');
    expect(w.app.runner.state).toBe('DRAINING');
    void w.app.stop('parent-gone');
    await draining;
    expect(w.app.state).toBe('STOPPED');
    expect(master.completions(a.taskId)).toEqual([]);
    expect(await containersOf(w)).toHaveLength(0);
  });

  it('lets a task that finishes within the grace period report its real result', async () => {
    const w = await newWorker({ WORKER_SHUTDOWN_GRACE_MS: '30000' });
    const req = assignmentFor(w.workerId, { command: ['sleep', '1'] });
    const a = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => master.statuses(a.taskId)[0], { what: 'RUNNING report' });
    await w.app.stop();
    expect(master.completions(a.taskId)).toEqual([expect.objectContaining({ status: SUCCEEDED, exitCode: 0 })]);
  });

  it('fails fast with a clear message when the Docker engine is unreachable', async () => {
    const saved = process.env.DOCKER_HOST;
    const dir = await tempDir();
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    try {
      const worker = new Worker(
        parseEnv(Env, { WORKER_ID: uniqueWorkerId(), CLOUDAI_DATA_DIR: dir.path }),
        createLogger({ name: 'worker', level: 'silent' }),
      );
      await expect(worker.start()).rejects.toThrow(/^cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:1: /);
      // As runService does after a failed start: nothing was built, and stopping still ends cleanly.
      await worker.stop();
      expect(worker.state).toBe('STOPPED');
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      await dir.remove();
    }
  });
});
