import { TaskStatus, type DispatchTaskRequest, type SubmitTaskRequest } from '@cloudai/proto';
import { Status } from 'nice-grpc';
import { beforeEach, describe, expect, it } from 'vitest';
import { failWith, makeTask, bearer } from '../testing/fake-master.js';
import { runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

/** Echoes the submitted spec back as the created task, as the real master would. */
function acceptSubmissions() {
  const answer = (spec: SubmitTaskRequest['spec'], pinned = '') => ({
    task: makeTask({
      taskId: '01890a5d-ac96-774b-bcce-b302099a8057',
      taskName: spec?.taskName || 'alpine-1704067200',
      pinnedWorkerId: pinned,
      spec: {
        ...makeTask().spec!,
        ...spec,
        resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0, ...stripUndefined(spec?.resources ?? {}) },
      },
    }),
  });
  master.setHandlers({
    submitTask: async (req) => answer(req.spec),
    dispatchTask: async (req) => answer(req.spec, req.workerId),
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

describe('cloudai task', () => {
  beforeEach(acceptSubmissions);

  it('sends the argv after -- exactly, with name, resources, env, timeout and the user', async () => {
    const res = await runCli([
      'task',
      'alpine:3.20',
      '--name',
      'my-experiment',
      '--cpu',
      '2.5',
      '--mem',
      '8',
      '--storage',
      '0',
      '--gpu',
      '1',
      '--env',
      'A=1',
      '--env',
      'B=x=y',
      '--env',
      'EMPTY=',
      '--timeout',
      '60',
      '--',
      'sh',
      '-c',
      "echo 'hi there' && exit 3",
      '--cpu',
      '9',
    ], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const calls = master.callsTo('submitTask');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.authorization).toBe(bearer());
    const spec = (calls[0]!.request as SubmitTaskRequest).spec!;
    expect(spec.image).toBe('alpine:3.20');
    expect(spec.command).toEqual(['sh', '-c', "echo 'hi there' && exit 3", '--cpu', '9']);
    expect(spec.taskName).toBe('my-experiment');
    expect(spec.resources).toEqual({ cpu: 2.5, memoryGb: 8, storageGb: 0, gpu: 1 });
    expect(spec.env).toEqual({ A: '1', B: 'x=y', EMPTY: '' });
    expect(spec.timeoutSeconds).toBe(60);
  });

  it('leaves resources it was not given unset so the master applies its defaults', async () => {
    const res = await runCli(['task', 'alpine:3.20', '--mem', '2'], env);
    expect(res.code).toBe(0);
    const spec = (master.callsTo('submitTask')[0]!.request as SubmitTaskRequest).spec!;
    expect(spec.resources).toEqual({ cpu: undefined, memoryGb: 2, storageGb: undefined, gpu: undefined });
    expect(spec.command).toEqual([]);
    expect(spec.taskName).toBe('');
    expect(spec.env).toEqual({});
  });

  it('prints a readable summary of the created task', async () => {
    const res = await runCli(['task', 'alpine:3.20', '--', 'sh', '-c', 'echo hi'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Task ID:       01890a5d-ac96-774b-bcce-b302099a8057');
    expect(res.stdout).toContain('Task Name:     alpine-1704067200');
    expect(res.stdout).toContain('Image:         alpine:3.20');
    expect(res.stdout).toContain("Command:       sh -c 'echo hi'");
    expect(res.stdout).toContain('Submitted At:  2025-01-01 12:00:00 UTC');
    expect(res.stdout).toMatch(/Resources:\n {2}CPU: +1 core\n {2}Memory: +0\.5 GB\n {2}Storage: +1 GB\n {2}GPU: +0\n/);
    expect(res.stdout).toMatch(/\nStatus: {8}QUEUED\n$/);
  });

  it('--json prints exactly the task id and name', async () => {
    const res = await runCli(['task', 'alpine:3.20', '--name', 'exp-1', '--json'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('{"taskId":"01890a5d-ac96-774b-bcce-b302099a8057","taskName":"exp-1"}\n');
  });

  it.each([
    [['--mem', '-1'], '--mem must be a number > 0, got "-1"'],
    [['--mem', 'abc'], '--mem must be a number > 0, got "abc"'],
    [['--cpu', 'NaN'], '--cpu must be a number > 0, got "NaN"'],
    [['--cpu', '1e9'], '--cpu must be <= 1024, got "1e9"'],
    [['--cpu', ''], '--cpu must be a number > 0, got ""'],
    [['--gpu', '0.5'], '--gpu must be a whole number >= 0, got "0.5"'],
    [['--storage', 'Infinity'], '--storage must be a number >= 0, got "Infinity"'],
    [['--timeout', '1.5'], '--timeout must be a whole number >= 0, got "1.5"'],
    [['--env', 'BAD'], '--env must be KEY=VALUE'],
    [['--env', '1BAD=x'], '--env must be KEY=VALUE'],
    [['--env', 'A=1', '--env', 'NO-DASH=1'], '"NO-DASH=1"'],
    [['--name', ' padded'], '--name must not start or end with whitespace'],
  ])('rejects %j with exit 2 naming the option, sending nothing', async (args, message) => {
    const res = await runCli(['task', 'alpine:3.20', ...args], env);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr.startsWith('error: ')).toBe(true);
    expect(res.stderr).toContain(message);
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(master.calls).toHaveLength(0);
  });

  it('rejects an image that is not a Docker reference', async () => {
    const res = await runCli(['task', 'alpine latest'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: <image> "alpine latest" is not valid/);
    expect(master.calls).toHaveLength(0);
  });

  it("reports the master's INVALID_ARGUMENT as one line with exit 2", async () => {
    master.setHandlers({
      submitTask: failWith(Status.INVALID_ARGUMENT, 'resources.memory_gb must be <= 64 on this cluster, got 100'),
    });
    const res = await runCli(['task', 'alpine:3.20', '--mem', '100'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: resources.memory_gb must be <= 64 on this cluster, got 100\n');
  });
});

describe('cloudai task --idempotency-key and --network', () => {
  beforeEach(acceptSubmissions);

  it('sends no key and no network unless asked', async () => {
    expect((await runCli(['task', 'alpine:3.20'], env)).code).toBe(0);
    const req = master.callsTo('submitTask')[0]!.request as SubmitTaskRequest;
    expect(req.idempotencyKey).toBe('');
    expect(req.spec?.network).toBe(false);
  });

  it('sends the key and network on task and on dispatch', async () => {
    for (const args of [['task'], ['dispatch', 'worker-7']]) {
      const res = await runCli([...args, 'alpine:3.20', '--idempotency-key', 'nightly:2025-01-01/run#1', '--network'], env);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
    }
    for (const method of ['submitTask', 'dispatchTask'] as const) {
      const req = master.callsTo(method)[0]!.request as SubmitTaskRequest;
      expect({ method, key: req.idempotencyKey, network: req.spec?.network }).toEqual({
        method,
        key: 'nightly:2025-01-01/run#1',
        network: true,
      });
    }
  });

  it('prints the task the master answers a resubmission with: the same id for the same key', async () => {
    const first = makeTask({ taskId: '01890a5d-ac96-774b-bcce-b30209900001', taskName: 'nightly' });
    const byKey = new Map<string, typeof first>();
    let next = 2;
    master.setHandlers({
      submitTask: async (req) => {
        const known = req.idempotencyKey ? byKey.get(req.idempotencyKey) : undefined;
        if (known) return { task: known };
        const task = byKey.size === 0 ? first : makeTask({ taskId: `01890a5d-ac96-774b-bcce-b3020990000${next++}` });
        if (req.idempotencyKey) byKey.set(req.idempotencyKey, task);
        return { task };
      },
    });
    const submit = async (...args: string[]) => {
      const res = await runCli(['task', 'alpine:3.20', '--json', ...args], env);
      expect(res.code).toBe(0);
      return (JSON.parse(res.stdout) as { taskId: string }).taskId;
    };
    const id = await submit('--idempotency-key', 'k1');
    expect(await submit('--idempotency-key', 'k1')).toBe(id);
    expect(await submit('--idempotency-key', 'k2')).not.toBe(id);
    // The same key for another submission: the first task, and a warning that nothing new ran.
    const other = await runCli(['task', 'alpine:3.21', '--json', '--idempotency-key', 'k1', '--', 'true'], env);
    expect(other.code).toBe(0);
    expect((JSON.parse(other.stdout) as { taskId: string }).taskId).toBe(id);
    expect(other.stderr).toBe(
      `warning: --idempotency-key "k1" was already used for task ${id} (nightly, alpine:3.20), which is answered instead; nothing new was submitted\n`,
    );
  });

  it.each([
    ['has space'],
    ['naïve'],
    ['k'.repeat(129)],
    [''],
  ])('refuses the key %j with exit 2 naming the rule, sending nothing', async (key) => {
    for (const args of [['task'], ['dispatch', 'worker-7']]) {
      const res = await runCli([...args, 'alpine:3.20', '--idempotency-key', key], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(
        `error: --idempotency-key must be 1-128 printable ASCII characters without spaces, got ${JSON.stringify(key)}\n`,
      );
    }
    expect(master.calls).toHaveLength(0);
  });

  it("says in --help that --network needs a worker with WORKER_ALLOW_NETWORK", async () => {
    const res = await runCli(['task', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout.replace(/\s+/g, ' ')).toMatch(/--network .*WORKER_ALLOW_NETWORK=true/);
    expect(res.stdout).toContain('--idempotency-key <key>');
  });
});

describe('cloudai dispatch', () => {
  beforeEach(acceptSubmissions);

  it('pins the task to the worker and sends the same spec as task', async () => {
    const res = await runCli(['dispatch', 'worker-7', 'alpine:3.20', '--cpu', '0.5', '--', 'echo', 'hi'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const calls = master.callsTo('dispatchTask');
    expect(calls).toHaveLength(1);
    const req = calls[0]!.request as DispatchTaskRequest;
    expect(req.workerId).toBe('worker-7');
    expect(req.spec?.command).toEqual(['echo', 'hi']);
    expect(req.spec?.resources?.cpu).toBe(0.5);
    expect(res.stdout).toMatch(/Worker: +worker-7\n/);
  });

  it('--json prints the task id and name', async () => {
    const res = await runCli(['dispatch', 'worker-7', 'alpine:3.20', '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ taskId: '01890a5d-ac96-774b-bcce-b302099a8057', taskName: 'alpine-1704067200' });
  });

  it('reports a FAILED_PRECONDITION from the master as one line, exit 1', async () => {
    master.setHandlers({ dispatchTask: failWith(Status.FAILED_PRECONDITION, 'worker worker-7 is draining') });
    const res = await runCli(['dispatch', 'worker-7', 'alpine:3.20'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: worker worker-7 is draining\n');
  });

  it('requires the image as well as the worker', async () => {
    const res = await runCli(['dispatch', 'worker-7'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: missing required argument 'image'/);
    expect(master.calls).toHaveLength(0);
  });
});

describe('submitted task status', () => {
  it('shows the status the master returned', async () => {
    master.setHandlers({
      submitTask: async () => ({ task: makeTask({ status: TaskStatus.TASK_STATUS_SCHEDULED, workerId: 'w1' }) }),
    });
    const res = await runCli(['task', 'alpine:3.20'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Status: +SCHEDULED\n$/);
  });
});

describe('a command without --', () => {
  it('points at -- when an option of the container command is taken for ours', async () => {
    master.setHandlers({});
    const res = await runCli(['task', 'alpine:3.20', 'sh', '-c', 'echo hi'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error: unknown option '-c' (put the container command after --)\n");
    expect(master.calls).toHaveLength(0);
  });
});
