import { TaskStatus, type GetTaskRequest } from '@cloudai/proto';
import { ServerError, Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { failWith, makeTask } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

const finished = makeTask({
  taskId: 'task-1',
  taskName: 'train-1',
  status: TaskStatus.TASK_STATUS_FAILED,
  reason: 'exited with code 2',
  exitCode: 2,
  workerId: 'worker-1',
  attempt: 1,
  scheduledAt: new Date('2025-01-01T12:00:01Z'),
  startedAt: new Date('2025-01-01T12:00:02Z'),
  finishedAt: new Date('2025-01-01T12:03:14Z'),
  outputFiles: [{ path: 'result.txt', size: 2048, sha256: 'ab'.repeat(32) }],
  outputBytes: 2048,
});

describe('cloudai status', () => {
  it('--json prints the task with plain status, ISO times and null for unset fields', async () => {
    master.setHandlers({ getTask: async () => ({ task: makeTask({ taskId: 'task-q' }) }) });
    const res = await runCli(['status', 'task-q', '--json'], env);
    expect(res.code).toBe(0);
    expect((master.callsTo('getTask')[0]!.request as GetTaskRequest).taskId).toBe('task-q');
    expect(JSON.parse(res.stdout)).toMatchObject({
      taskId: 'task-q',
      taskName: 'alpine-1704067200',
      image: 'alpine:3.20',
      command: ['sh', '-c', 'echo hi'],
      status: 'QUEUED',
      reason: '',
      exitCode: null,
      workerId: null,
      attempt: 0,
      resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 },
      submittedAt: '2025-01-01T12:00:00.000Z',
      startedAt: null,
      finishedAt: null,
    });
  });

  it('--json of a finished task carries exit code, worker and times', async () => {
    master.setHandlers({ getTask: async () => ({ task: finished }) });
    const res = await runCli(['status', 'task-1', '--json'], env);
    const json = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      status: 'FAILED',
      reason: 'exited with code 2',
      exitCode: 2,
      workerId: 'worker-1',
      attempt: 1,
      startedAt: '2025-01-01T12:00:02.000Z',
      finishedAt: '2025-01-01T12:03:14.000Z',
      outputFiles: [{ path: 'result.txt', size: 2048, sha256: 'ab'.repeat(32) }],
    });
    expect(json).not.toHaveProperty('env');
  });

  it('prints key/value lines with reason, exit code and duration', async () => {
    master.setHandlers({ getTask: async () => ({ task: finished }) });
    const res = await runCli(['status', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Task ID: +task-1$/m);
    expect(res.stdout).toMatch(/^Status: +FAILED$/m);
    expect(res.stdout).toMatch(/^Reason: +exited with code 2$/m);
    expect(res.stdout).toMatch(/^Exit Code: +2$/m);
    expect(res.stdout).toMatch(/^Worker: +worker-1$/m);
    expect(res.stdout).toMatch(/^Resources: +cpu 1 core, memory 0\.5 GB, storage 1 GB, gpu 0$/m);
    expect(res.stdout).toMatch(/^Duration: +3m 12s$/m);
    expect(res.stdout).toMatch(/^Output Files: +1 \(2 KB\)$/m);
  });

  it('NOT_FOUND from the master is one line and exit 1', async () => {
    master.setHandlers({
      getTask: async (req) => {
        throw new ServerError(Status.NOT_FOUND, `task ${req.taskId} not found`);
      },
    });
    const res = await runCli(['status', 'nope'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('error: task nope not found\n');
  });

  it('an INTERNAL error says the master failed, without a stack trace', async () => {
    master.setHandlers({ getTask: failWith(Status.INTERNAL, 'store is closed') });
    const res = await runCli(['status', 'task-1'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: the master failed: store is closed\n');
  });

  it('strips control characters the master sends before they reach the terminal', async () => {
    master.setHandlers({ getTask: async () => ({ task: { ...finished, reason: 'bad\u001b[2Jthing\nnext' } }) });
    const res = await runCli(['status', 'task-1'], env);
    expect(res.stdout).toMatch(/^Reason: +bad\?\[2Jthing\?next$/m);
    expect(res.stdout).not.toContain('\u001b');
  });
});
