import { issueMasterAssertion, SigningKey, workerAudience } from '@cloudai/auth';
import { WorkerServiceDefinition } from '@cloudai/proto';
import { connect, Status } from '@cloudai/rpc';
import { requireDocker, waitFor } from '@cloudai/testing';
import { ClientError, Metadata } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_WORKER_ID } from './docker-executor.js';
import { assignmentFor } from './testing/fake-master.js';
import { useTestWorker } from './testing/harness.js';

// Anyone who can reach a worker's port could otherwise run any container on
// its host. Only the master, proved by its signed assertion for this very
// worker, gets through; everything else is refused before a handler runs.

const fixture = useTestWorker();
let anyone: ReturnType<typeof connect<typeof WorkerServiceDefinition>>;
beforeAll(() => {
  anyone = connect(WorkerServiceDefinition, fixture.worker.app.address);
});
afterAll(() => anyone?.close());

const as = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });

describe("the worker's API takes the master's calls only", () => {
  it.each([
    ['no credential', () => ({}), /only the master may call a worker/],
    ['an assertion signed by another key', () => as(issueMasterAssertion(SigningKey.generate(), workerAudience(fixture.worker.workerId))), /bad signature/],
    ['the master assertion for another worker', () => as(issueMasterAssertion(fixture.master.signingKey, workerAudience('someone-else'))), /wrong audience/],
    ['the master assertion for storage', () => as(issueMasterAssertion(fixture.master.signingKey, 'storage')), /wrong audience/],
    ['the join secret', () => as(fixture.master.joinSecret), /refused/],
  ])('refuses AssignTask with %s, and creates no container', async (_, options, message) => {
    const docker = await requireDocker();
    const req = assignmentFor(fixture.worker.workerId, { command: ['sh', '-c', 'echo pwned'] });
    const err = await anyone.client.assignTask(req, options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.UNAUTHENTICATED);
    expect((err as ClientError).details).toMatch(message);
    const cancel = await anyone.client
      .cancelTask({ taskId: req.assignment!.taskId, assignmentId: '', reason: '' }, options())
      .catch((e: unknown) => e);
    expect((cancel as ClientError).code).toBe(Status.UNAUTHENTICATED);
    expect(fixture.worker.app.runner.get(req.assignment!.assignmentId)).toBeUndefined();
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_WORKER_ID}=${fixture.worker.workerId}`, `cloudai.task_id=${req.assignment!.taskId}`] },
    });
    expect(containers).toEqual([]);
  });

  it("takes the master's own call", async () => {
    const req = assignmentFor(fixture.worker.workerId, { command: ['true'] });
    expect(await fixture.worker.client.assignTask(req)).toEqual({ accepted: true });
  });
});

describe("the worker's calls to the master", () => {
  it('register with the join secret and carry the worker credential the master gave it on every other call', async () => {
    const calls = fixture.master.authorizations;
    // The tests above may all be done before the worker's first heartbeat: wait for a call after registering.
    await waitFor(() => (calls.some((c) => c.method !== 'registerWorker') ? true : undefined), {
      what: 'a call of the worker other than its registration',
    });
    const registrations = calls.filter((c) => c.method === 'registerWorker');
    expect(registrations.length).toBeGreaterThan(0);
    for (const r of registrations) expect(r.authorization).toBe(`Bearer ${fixture.master.joinSecret}`);
    const others = calls.filter((c) => c.method !== 'registerWorker');
    expect(others.length).toBeGreaterThan(0);
    for (const c of others) expect(c.authorization).toMatch(/^Bearer caw_/);
  });
});
