import { TaskStatus, type Task } from '@cloudai/proto';
import { ServerError, Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

type Step = Partial<Task> | Error;

/** GetTask answers with each step in turn, repeating the last one. */
function script(steps: Step[]) {
  let call = 0;
  master.setHandlers({
    getTask: async (req) => {
      const step = steps[Math.min(call++, steps.length - 1)]!;
      if (step instanceof Error) throw step;
      return { task: makeTask({ taskId: req.taskId, ...step }) };
    },
  });
}

const running = { status: TaskStatus.TASK_STATUS_RUNNING, workerId: 'worker-1' };

describe('cloudai wait', () => {
  it('polls through QUEUED and RUNNING and exits 0 when the task SUCCEEDED', async () => {
    script([
      { status: TaskStatus.TASK_STATUS_QUEUED },
      running,
      running,
      { status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0 },
      { status: TaskStatus.TASK_STATUS_FAILED, reason: 'polled past the end' },
    ]);
    const res = await runCli(['wait', 'task-ok'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('task-ok SUCCEEDED exit 0\n');
    expect(master.callsTo('getTask')).toHaveLength(4);
  });

  it('exits 1 when the task FAILED, printing exit code and reason', async () => {
    script([running, { status: TaskStatus.TASK_STATUS_FAILED, exitCode: 3, reason: 'exited with code 3' }]);
    const res = await runCli(['wait', 'task-bad'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('task-bad FAILED exit 3: exited with code 3\n');
    expect(res.stderr).toBe('');
  });

  it.each([
    ['CANCELLED', TaskStatus.TASK_STATUS_CANCELLED],
    ['TIMED_OUT', TaskStatus.TASK_STATUS_TIMED_OUT],
  ])('exits 1 when the task ends %s', async (name, status) => {
    script([{ status }]);
    const res = await runCli(['wait', 'task-x'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe(`task-x ${name}\n`);
  });

  it('--json prints the finished task', async () => {
    script([{ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, workerId: 'worker-1' }]);
    const res = await runCli(['wait', 'task-ok', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ taskId: 'task-ok', status: 'SUCCEEDED', exitCode: 0, workerId: 'worker-1' });
  });

  it('rides out a master outage after first contact, saying so once on stderr', async () => {
    const down = new ServerError(Status.UNAVAILABLE, 'master restarting');
    script([running, down, down, running, { status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0 }]);
    const res = await runCli(['wait', 'task-ok'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('task-ok SUCCEEDED exit 0\n');
    expect(res.stderr).toBe(`warning: lost contact with the master at ${master.address}; retrying\n`);
  });

  it('fails at once with exit 3 when the master is unavailable from the start', async () => {
    script([new ServerError(Status.UNAVAILABLE, 'not ready')]);
    const res = await runCli(['wait', 'task-ok'], env);
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      `error: cannot reach the master at ${master.address} (is it running? set --master or CLOUDAI_MASTER)\n`,
    );
    expect(master.callsTo('getTask')).toHaveLength(1);
  });

  it('NOT_FOUND ends the wait with one line and exit 1', async () => {
    script([new ServerError(Status.NOT_FOUND, 'task nope not found')]);
    const res = await runCli(['wait', 'nope'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: task nope not found\n');
  });

  it('gives up with exit 4 when --timeout elapses first', async () => {
    script([running]);
    const res = await runCli(['wait', 'task-slow', '--timeout', '0.5'], env);
    expect(res.code).toBe(4);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('error: gave up waiting for task-slow after 0.5s; it is still RUNNING\n');
  });

  it('rejects a --timeout that is not a positive number', async () => {
    const res = await runCli(['wait', 'task-ok', '--timeout', 'soon'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --timeout must be a number > 0, got "soon"\n');
    expect(master.calls).toHaveLength(0);
  });
});
