import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, Status } from 'nice-grpc';
import { workerIdSchema } from '@cloudai/domain';
import { IdentityServiceDefinition, TaskServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { startCluster, TEST_IMAGE, type LocalCluster } from '@cloudai/testing';
import { SubmitOptions, UserName } from '../../apps/cli/dist/options.js';

// The master must refuse bad requests itself (not only the CLI), naming the
// field, and store nothing. These go straight at the gRPC API, as any
// client could.

let cluster: LocalCluster;
let api: ReturnType<typeof connect<typeof TaskServiceDefinition>>;
let identity: ReturnType<typeof connect<typeof IdentityServiceDefinition>>;

beforeAll(async () => {
  cluster = await startCluster({ workers: 0, scheduler: false });
  api = connect(TaskServiceDefinition, cluster.masterAddr, { bearer: () => cluster.userToken });
  identity = connect(IdentityServiceDefinition, cluster.masterAddr, { bearer: () => cluster.adminToken });
});

afterAll(async () => {
  api?.close();
  identity?.close();
  await cluster?.stop();
});

async function rejection(resources: Record<string, number>): Promise<ClientError> {
  try {
    await api.client.submitTask({ spec: { image: TEST_IMAGE, resources } });
  } catch (err) {
    if (err instanceof ClientError) return err;
    throw err;
  }
  throw new Error('the master accepted an invalid task');
}

describe('SubmitTask validation', () => {
  it.each([
    [{ memoryGb: -1 }, /resources\.memory_gb must be > 0, got -1/],
    [{ cpu: Number.NaN }, /resources\.cpu must be a finite number/],
    [{ cpu: 0 }, /resources\.cpu must be > 0/],
    [{ cpu: 1e9 }, /resources\.cpu must be <= 1024/],
    [{ memoryGb: Number.POSITIVE_INFINITY }, /resources\.memory_gb must be a finite number/],
    [{ gpu: 1.5 }, /resources\.gpu must be a whole number/],
    [{ storageGb: -0.5 }, /resources\.storage_gb must be >= 0/],
  ])('rejects %o naming the field', async (resources, message) => {
    const err = await rejection(resources);
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toMatch(message);
  });

  it('rejects a missing or malformed image', async () => {
    for (const image of ['', 'has space', '-leading-dash']) {
      await expect(api.client.submitTask({ spec: { image } })).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        details: expect.stringMatching(/^image/),
      });
    }
  });

  it('stores nothing for rejected requests', async () => {
    await rejection({ memoryGb: -1 });
    const { tasks } = await api.client.listTasks({});
    expect(tasks).toEqual([]);
  });

  it('fills defaults and the seed-style name for a valid task', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { task } = await api.client.submitTask({ spec: { image: 'registry.local:5000/team/my-image:1.0', command: ['true'] } });
    expect(task?.taskName).toMatch(/^my-image-\d+$/);
    expect(Number(task?.taskName.split('-').pop())).toBeGreaterThanOrEqual(before);
    expect(task?.spec?.resources).toEqual({ cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 });
  });

  it('returns the same task for a repeated idempotency key', async () => {
    const a = await api.client.submitTask({ spec: { image: TEST_IMAGE }, idempotencyKey: 'k-1' });
    const b = await api.client.submitTask({ spec: { image: TEST_IMAGE }, idempotencyKey: 'k-1' });
    expect(b.task?.taskId).toBe(a.task?.taskId);
  });

  it('answers NOT_FOUND for an unknown task', async () => {
    await expect(api.client.getTask({ taskId: 'nope' })).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });
});

// The CLI checks what it can before sending; it must draw the line exactly
// where the master does, or users meet rules that contradict each other.
describe('the CLI and the master accept the same values', () => {
  async function masterAccepts(call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (err) {
      if (err instanceof ClientError && (err.code === Status.INVALID_ARGUMENT || err.code === Status.UNAUTHENTICATED)) return false;
      // Well-formed but unknown (a worker id nobody registered) counts as accepted.
      if (err instanceof ClientError && err.code === Status.NOT_FOUND) return true;
      throw err;
    }
  }

  // An empty --name is left out on purpose: the CLI calls it a typo, the master "name it for me".
  it.each(['exp-001', 'a\tb', 'a\u009b31mb', 'a\nb', 'a\u007fb', ' padded', 'x'.repeat(200), 'x'.repeat(201), '../x', 'é/ü'])(
    'task name %j',
    async (name) => {
      const cli = SubmitOptions.safeParse({ image: TEST_IMAGE, command: [], name, env: [], json: false, follow: false }).success;
      const master = await masterAccepts(() => api.client.submitTask({ spec: { image: TEST_IMAGE, taskName: name } }));
      expect({ name, cli }).toEqual({ name, cli: master });
    },
  );

  // `cloudai users add <name>` against the master's CreateUser.
  it.each(['alice', 'a.b@c+d-e', '-x', '.x', '_x', 'a b', '~x', 'ü', 'x'.repeat(128), 'x'.repeat(129)])('user name %j', async (user) => {
    const cli = UserName.safeParse(user).success;
    const master = await masterAccepts(() => identity.client.createUser({ userName: user }));
    expect({ user, cli }).toEqual({ user, cli: master });
  });

  it.each(['worker-1', 'w.1_a', '', 'a b', 'x'.repeat(64), 'x'.repeat(65), 'w/1'])('worker id %j', async (workerId) => {
    const cli = workerIdSchema('<worker-id>').safeParse(workerId).success;
    const master = await masterAccepts(() => api.client.dispatchTask({ workerId, spec: { image: TEST_IMAGE } }));
    expect({ workerId, cli }).toEqual({ workerId, cli: master });
  });
});
