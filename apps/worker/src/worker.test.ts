import { requireDocker, waitFor } from '@cloudai/testing';
import { TaskProgress } from '@cloudai/proto';
import { ClientError, Status } from '@cloudai/rpc';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_ASSIGNMENT_ID } from './docker-executor.js';
import {
  FAILED,
  FakeMaster,
  RUNNING,
  SUCCEEDED,
  TIMED_OUT,
  UPLOADING,
  assignmentFor,
} from './testing/fake-master.js';
import { startTestWorker, type TestWorker } from './testing/harness.js';

let docker: Docker;
let master: FakeMaster;
let worker: TestWorker;

beforeAll(async () => {
  docker = await requireDocker();
  master = await FakeMaster.start();
  worker = await startTestWorker(docker, master);
});

afterAll(async () => {
  await worker?.close();
  await master?.stop();
});

function ids(request: ReturnType<typeof assignmentFor>) {
  const a = request.assignment!;
  return { taskId: a.taskId, assignmentId: a.assignmentId };
}

const completion = (taskId: string) =>
  waitFor(() => master.completions(taskId)[0], { what: `completion of ${taskId}`, timeoutMs: 45_000 });

async function containersOf(assignmentId: string) {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_ASSIGNMENT_ID}=${assignmentId}`] } });
}

async function expectRejected(call: Promise<unknown>, code: Status, message: string | RegExp) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  expect(Status[(err as ClientError).code]).toBe(Status[code]);
  expect((err as ClientError).details).toMatch(message);
}

describe('task execution', () => {
  it('runs an echo task: RUNNING with the container id, then SUCCEEDED with exit code 0', async () => {
    const req = assignmentFor(worker.workerId, { command: ['echo', 'hello'] });
    const { taskId, assignmentId } = ids(req);
    expect(await worker.client.assignTask(req)).toEqual({ accepted: true });

    const done = await completion(taskId);
    expect(done).toMatchObject({ assignmentId, workerId: worker.workerId, status: SUCCEEDED, exitCode: 0, reason: '' });
    const statuses = master.statuses(taskId);
    expect(statuses.map((s) => s.status)).toEqual([RUNNING, UPLOADING]);
    expect(statuses[0]).toMatchObject({ assignmentId, status: RUNNING });
    expect(statuses[0]?.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(master.output(taskId, 'stdout').toString()).toBe('hello\n');
    expect(master.indexOf((e) => e.kind === 'status' && e.request.taskId === taskId)).toBeLessThan(
      master.indexOf((e) => e.kind === 'complete' && e.request.taskId === taskId),
    );
    // The container is removed once its exit code has been read.
    expect(await containersOf(assignmentId)).toHaveLength(0);
  });

  it('reports a non-zero exit as FAILED with the exit code', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sh', '-c', 'exit 3'] });
    await worker.client.assignTask(req);
    expect(await completion(ids(req).taskId)).toMatchObject({ status: FAILED, exitCode: 3, reason: 'exited with code 3' });
  });

  it('passes the task environment to the container', async () => {
    const req = assignmentFor(worker.workerId, {
      command: ['sh', '-c', 'test "$GREETING" = "hi there"'],
      env: { GREETING: 'hi there' },
    });
    await worker.client.assignTask(req);
    expect(await completion(ids(req).taskId)).toMatchObject({ status: SUCCEEDED, exitCode: 0 });
  });

  it('fails a task whose image cannot be pulled, with the engine reason and no RUNNING report', async () => {
    const req = assignmentFor(worker.workerId, { image: 'cloudai-test/does-not-exist:1', command: ['true'] });
    await worker.client.assignTask(req);
    const done = await completion(ids(req).taskId);
    expect(done.status).toBe(FAILED);
    expect(done.exitCode).toBeUndefined();
    expect(done.reason).toMatch(/^image cloudai-test\/does-not-exist:1 is not available locally and could not be pulled: \S/);
    expect(master.statuses(ids(req).taskId)).toHaveLength(0);
  });

  it('tells the master it is pulling an image it does not have, before the result; not for one it has', async () => {
    const missing = assignmentFor(worker.workerId, { image: 'cloudai-test/not-here-either:1', command: ['true'] });
    await worker.client.assignTask(missing);
    const { taskId, assignmentId } = ids(missing);
    await completion(taskId);
    expect(master.progressOf(taskId)).toEqual([
      { taskId, assignmentId, progress: TaskProgress.TASK_PROGRESS_PULLING_IMAGE, bytes: 0, files: 0, durationMs: 0 },
    ]);
    const pulling = master.indexOf((e) => e.kind === 'progress' && e.request.taskId === taskId);
    const completed = master.indexOf((e) => e.kind === 'complete' && e.request.taskId === taskId);
    expect(pulling).toBeLessThan(completed);

    const present = assignmentFor(worker.workerId, { command: ['true'] });
    await worker.client.assignTask(present);
    await completion(ids(present).taskId);
    expect(master.progressOf(ids(present).taskId)).toEqual([]);
  });

  it('returns from AssignTask before the task runs, and the execution outlives the call', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sleep', '2'] });
    const { taskId, assignmentId } = ids(req);
    await worker.client.assignTask(req);
    master.mark(`assign returned ${taskId}`);
    // Still in progress after the RPC has ended: its lifetime is its own.
    expect(['PREPARING', 'RUNNING']).toContain(worker.app.runner.get(assignmentId)?.state);

    expect(await completion(taskId)).toMatchObject({ status: SUCCEEDED, exitCode: 0 });
    const returned = master.indexOf((e) => e.kind === 'mark' && e.label === `assign returned ${taskId}`);
    const running = master.indexOf((e) => e.kind === 'status' && e.request.taskId === taskId);
    expect(returned).toBeGreaterThanOrEqual(0);
    expect(running).toBeGreaterThan(returned);
  });

  it('accepts a repeated AssignTask for the same assignment without running it twice', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sleep', '1'] });
    const { taskId } = ids(req);
    expect(await worker.client.assignTask(req)).toEqual({ accepted: true });
    expect(await worker.client.assignTask(req)).toEqual({ accepted: true });
    await completion(taskId);
    // The execution lets go of the assignment just after reporting it.
    await waitFor(() => (worker.app.runner.get(ids(req).assignmentId) === undefined ? true : undefined), {
      what: 'execution to end',
    });
    // Once finished, a late retry of the call must not start it again either.
    expect(await worker.client.assignTask(req)).toEqual({ accepted: true });
    expect(worker.app.runner.get(ids(req).assignmentId)).toBeUndefined();
    expect(master.statuses(taskId).map((s) => s.status)).toEqual([RUNNING, UPLOADING]);
    expect(master.completions(taskId)).toHaveLength(1);
  });

  it('cancels a running task: the container is stopped and no result is reported', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sleep', '3600'] });
    const { taskId, assignmentId } = ids(req);
    await worker.client.assignTask(req);
    await waitFor(() => master.statuses(taskId)[0], { what: 'RUNNING report' });

    expect(await worker.client.cancelTask({ taskId, assignmentId, reason: 'user asked' })).toEqual({ found: true });
    // DONE means the execution is over; a sleep of an hour only ends this
    // soon because the container was stopped.
    await waitFor(() => (worker.app.runner.get(assignmentId) === undefined ? true : undefined), {
      what: 'execution to end',
    });
    expect(await containersOf(assignmentId)).toHaveLength(0);
    expect(master.completions(taskId)).toHaveLength(0);
    expect(await worker.client.cancelTask({ taskId, assignmentId, reason: '' })).toEqual({ found: false });
  });

  it('kills a task that exceeds timeout_seconds and reports TIMED_OUT', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sleep', '3600'], timeoutSeconds: 1 });
    await worker.client.assignTask(req);
    expect(await completion(ids(req).taskId)).toMatchObject({ status: TIMED_OUT, reason: 'timed out after 1 s' });
    expect(await containersOf(ids(req).assignmentId)).toHaveLength(0);
  });

  it('creates the container with the task limits and hardening', async () => {
    const req = assignmentFor(worker.workerId, {
      command: ['sleep', '3600'],
      resources: { cpu: 0.5, memoryGb: 0.25, storageGb: 0, gpu: 0 },
    });
    const { taskId, assignmentId } = ids(req);
    await worker.client.assignTask(req);
    const running = await waitFor(() => master.statuses(taskId)[0], { what: 'RUNNING report' });

    const info = await docker.getContainer(running.containerId).inspect();
    expect(info.HostConfig).toMatchObject({
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: 1024,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      NetworkMode: 'none',
      Privileged: false,
      AutoRemove: false,
    });
    // The only bind is the task's own output folder: never the Docker socket.
    expect(info.HostConfig.Binds).toEqual([`${worker.app.outputRoot}/${taskId}-${assignmentId}:/output:rw`]);
    expect(info.Config.Tty).toBe(false);
    expect(info.Config.Labels).toMatchObject({
      'cloudai.task_id': taskId,
      'cloudai.assignment_id': assignmentId,
      'cloudai.worker_id': worker.workerId,
    });
    await worker.client.cancelTask({ taskId, assignmentId, reason: 'done inspecting' });
  });

  it('applies the memory limit inside the container', async () => {
    const limit = 256 * 1024 * 1024;
    const req = assignmentFor(worker.workerId, {
      // cgroup v2 exposes memory.max; v1 exposes memory.limit_in_bytes.
      command: [
        'sh',
        '-c',
        `v=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); test "$v" = ${limit}`,
      ],
      resources: { cpu: 0.5, memoryGb: 0.25, storageGb: 0, gpu: 0 },
    });
    await worker.client.assignTask(req);
    expect(await completion(ids(req).taskId)).toMatchObject({ status: SUCCEEDED, exitCode: 0 });
  });

  it('reports a task killed for exceeding its memory as FAILED out of memory', async () => {
    const req = assignmentFor(worker.workerId, {
      // tail keeps the whole newline-free input in memory.
      command: ['sh', '-c', 'head -c 500000000 /dev/zero | tail > /dev/null'],
      resources: { cpu: 0.5, memoryGb: 0.03125, storageGb: 0, gpu: 0 },
    });
    await worker.client.assignTask(req);
    expect(await completion(ids(req).taskId)).toMatchObject({
      status: FAILED,
      exitCode: 137,
      reason: 'out of memory (limit 0.03 GB)',
    });
  });

  it('drops an assignment the master calls stale: container stopped, no result', async () => {
    const req = assignmentFor(worker.workerId, { command: ['sleep', '3600'] });
    const { taskId, assignmentId } = ids(req);
    master.staleAssignments.add(assignmentId);
    await worker.client.assignTask(req);
    // The RUNNING report is refused with FAILED_PRECONDITION, which ends it.
    await waitFor(() => (worker.app.runner.get(assignmentId) === undefined ? true : undefined), {
      what: 'stale execution to end',
    });
    expect(await containersOf(assignmentId)).toHaveLength(0);
    expect(master.completions(taskId)).toHaveLength(0);
  });
});

describe('AssignTask validation', () => {
  it('names the missing or invalid field', async () => {
    const ok = assignmentFor(worker.workerId, { command: ['true'] });
    const a = ok.assignment!;
    const spec = a.task!.spec!;
    await expectRejected(worker.client.assignTask({}), Status.INVALID_ARGUMENT, 'assignment is required');
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, assignmentId: '' } }),
      Status.INVALID_ARGUMENT,
      'assignment.assignment_id is required',
    );
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, taskId: '' } }),
      Status.INVALID_ARGUMENT,
      'assignment.task_id is required',
    );
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, assignmentId: '../../etc' } }),
      Status.INVALID_ARGUMENT,
      /^assignment\.assignment_id must be/,
    );
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, task: { ...a.task!, spec: { ...spec, image: '' } } } }),
      Status.INVALID_ARGUMENT,
      'assignment.task.spec.image is required',
    );
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, task: { ...a.task!, spec: { ...spec, resources: undefined } } } }),
      Status.INVALID_ARGUMENT,
      'assignment.task.spec.resources is required',
    );
    await expectRejected(
      worker.client.assignTask({
        assignment: { ...a, task: { ...a.task!, spec: { ...spec, resources: { cpu: 1 } } } },
      }),
      Status.INVALID_ARGUMENT,
      'assignment.task.spec.resources.memory_gb is required',
    );
    await expectRejected(
      worker.client.assignTask({
        assignment: { ...a, task: { ...a.task!, spec: { ...spec, resources: { cpu: -1, memoryGb: 1 } } } },
      }),
      Status.INVALID_ARGUMENT,
      'assignment.task.spec.resources.cpu must be > 0, got -1',
    );
    await expectRejected(
      worker.client.assignTask({ assignment: { ...a, workerId: 'someone-else' } }),
      Status.FAILED_PRECONDITION,
      /^assignment\.worker_id is "someone-else"/,
    );
    // Nothing was started by any of these.
    expect(worker.app.runner.get(a.assignmentId)).toBeUndefined();
    expect(master.statuses(a.taskId)).toHaveLength(0);
  });

  it('refuses tasks that ask for network unless WORKER_ALLOW_NETWORK is set', async () => {
    const req = assignmentFor(worker.workerId, { command: ['true'], network: true });
    await expectRejected(
      worker.client.assignTask(req),
      Status.FAILED_PRECONDITION,
      'network access is not enabled on this worker (it runs without WORKER_ALLOW_NETWORK=true)',
    );
  });

  it('requires a task or assignment id to cancel', async () => {
    await expectRejected(
      worker.client.cancelTask({ taskId: '', assignmentId: '', reason: '' }),
      Status.INVALID_ARGUMENT,
      'task_id or assignment_id is required',
    );
  });
});
