import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Writable } from 'node:stream';
import { issueWorkerCredential, SigningKey } from '@cloudai/auth';
import { createLogger } from '@cloudai/logger';
import {
  ClusterServiceDefinition,
  IdentityServiceDefinition,
  Role,
  SchedulerServiceDefinition,
  TaskServiceDefinition,
  WorkerState,
} from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { newTaskRecord, openSqliteStore } from '@cloudai/store';
import { tempDir } from '@cloudai/testing';
import { ClientError, Metadata } from 'nice-grpc';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  completion,
  spec,
  startRunning,
  Status,
  submit,
  TaskStatus,
  useMasters,
  type TestMaster,
} from './testing/harness.js';

const { master, registeredWorker, defer } = useMasters();
let m: TestMaster;

beforeEach(async () => {
  m = await master();
});

const bearer = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });

async function refusal(call: () => Promise<unknown>): Promise<ClientError> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw new Error(`expected the call to be refused, got ${String(err)}`);
  return err;
}

/** Every TaskService method, called with `options`, each with a request the method would otherwise take. */
function everyTaskCall(client: TestMaster['tasks'], taskId: string, options: object): [string, () => Promise<unknown>][] {
  const drain = async (stream: AsyncIterable<unknown>) => {
    for await (const _ of stream);
  };
  return [
    ['SubmitTask', () => client.submitTask({ spec: spec(), idempotencyKey: '' }, options)],
    ['DispatchTask', () => client.dispatchTask({ workerId: 'w1', spec: spec(), idempotencyKey: '' }, options)],
    ['GetTask', () => client.getTask({ taskId }, options)],
    ['ListTasks', () => client.listTasks({}, options)],
    ['CancelTask', () => client.cancelTask({ taskId, reason: '' }, options)],
    ['ListWorkers', () => client.listWorkers({}, options)],
    ['DrainWorker', () => client.drainWorker({ workerId: 'w1', drain: true }, options)],
    ['StreamLogs', () => drain(client.streamLogs({ taskId }, options))],
    ['GetLogLineIndex', () => client.getLogLineIndex({ taskId }, options)],
    ['ListFiles', () => client.listFiles({ taskId }, options)],
    ['DownloadFiles', () => drain(client.downloadFiles({ taskId, path: '' }, options))],
    ['DeleteFiles', () => client.deleteFiles({ taskId }, options)],
  ];
}

describe('who may call the task API', () => {
  it('refuses every method without a token, or with a malformed, wrong, revoked or expired one, saying which', async () => {
    const anonymous = connect(TaskServiceDefinition, m.master.address);
    defer(() => anonymous.close());
    const task = await submit(m, {}, 'alice');
    const revoked = await m.identity.createToken({ userName: 'alice', description: 'to revoke', expiresInSeconds: 0 });
    await m.identity.revokeToken({ tokenId: revoked.token!.tokenId });
    const expiring = await m.identity.createToken({ userName: 'alice', description: 'short', expiresInSeconds: 1 });
    await sleep(1_100);
    const wrongSecret = m.tokens.alice.slice(0, -4) + (m.tokens.alice.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const cases: [string, object, RegExp][] = [
      ['no token', {}, /^no credential/],
      ['a malformed token', bearer('cai_nope'), /^malformed token/],
      ['not a bearer header', { metadata: Metadata({ authorization: m.tokens.alice }) }, /^malformed credential/],
      ['a wrong secret', bearer(wrongSecret), /^wrong token$/],
      ['an unknown token id', bearer(`cai_${'a'.repeat(16)}_${m.tokens.alice.slice(-43)}`), /^wrong token$/],
      ['a revoked token', bearer(revoked.secretToken), /was revoked/],
      ['an expired token', bearer(expiring.secretToken), /expired/],
    ];
    for (const [what, options, message] of cases) {
      for (const [method, call] of everyTaskCall(anonymous.client, task.taskId, options)) {
        const err = await refusal(call);
        expect({ what, method, code: Status[err.code] }).toEqual({ what, method, code: 'UNAUTHENTICATED' });
        expect(err.details, `${what} on ${method}`).toMatch(message);
        // A refusal never echoes the credential it was given.
        expect(err.details).not.toContain(m.tokens.alice.slice(20));
      }
    }
    expect((await m.tasks.listTasks({ allUsers: true }, m.as('admin'))).tasks).toHaveLength(1);
  });

  it("takes the task's user from the token, never from the request", async () => {
    const task = await submit(m, {}, 'alice');
    expect(task.userId).toBe('alice');
    expect((await m.tasks.getTask({ taskId: task.taskId }, m.as('alice'))).task?.userId).toBe('alice');
  });

  it("answers NOT_FOUND for another user's task exactly as for a missing one; the admin acts on it", async () => {
    const w = await registeredWorker(m);
    const task = await submit(m, {}, 'alice');
    await startRunning(m, w, task.taskId);
    const missing = '0190a000-0000-7000-8000-000000000000';
    for (const [method, call] of everyTaskCall(m.tasks, task.taskId, m.as('bob'))) {
      if (!['GetTask', 'CancelTask', 'StreamLogs', 'GetLogLineIndex', 'ListFiles', 'DownloadFiles', 'DeleteFiles'].includes(method)) continue;
      const theirs = await refusal(call);
      const none = await refusal(everyTaskCall(m.tasks, missing, m.as('bob')).find(([name]) => name === method)![1]);
      expect({ method, code: Status[theirs.code] }).toEqual({ method, code: 'NOT_FOUND' });
      expect(theirs.details.replace(task.taskId, 'ID')).toBe(none.details.replace(missing, 'ID'));
    }
    expect((await m.tasks.listTasks({}, m.as('bob'))).tasks).toEqual([]);
    // Bob's refused cancel changed nothing; the admin sees and cancels it.
    expect((await m.tasks.getTask({ taskId: task.taskId }, m.as('admin'))).task?.status).toBe(TaskStatus.TASK_STATUS_RUNNING);
    const { task: cancelled } = await m.tasks.cancelTask({ taskId: task.taskId, reason: '' }, m.as('admin'));
    expect(cancelled?.status).toBe(TaskStatus.TASK_STATUS_CANCELLED);
  });

  it('lists every user\'s tasks for an admin with all_users, and refuses all_users to anyone else', async () => {
    await submit(m, {}, 'alice');
    await submit(m, {}, 'bob');
    const all = await m.tasks.listTasks({ allUsers: true }, m.as('admin'));
    expect(all.tasks.map((t) => t.userId).sort()).toEqual(['alice', 'bob']);
    const err = await refusal(() => m.tasks.listTasks({ allUsers: true }, m.as('alice')));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
  });
});

describe('operator actions and the version', () => {
  it('lets only admins drain and resume workers; a refused drain changes nothing', async () => {
    await registeredWorker(m, 'w1');
    for (const drain of [true, false]) {
      const err = await refusal(() => m.tasks.drainWorker({ workerId: 'w1', drain }, m.as('alice')));
      expect(err).toMatchObject({ code: Status.PERMISSION_DENIED, details: 'only admins may drain workers' });
    }
    const state = async () => (await m.tasks.listWorkers({ includeLost: true })).workers.find((w) => w.workerId === 'w1')?.state;
    expect(await state()).toBe(WorkerState.WORKER_STATE_ALIVE);
    expect((await m.tasks.drainWorker({ workerId: 'w1', drain: true }, m.as('admin'))).worker?.state).toBe(
      WorkerState.WORKER_STATE_DRAINING,
    );
    expect((await refusal(() => m.tasks.drainWorker({ workerId: 'w1', drain: false }, m.as('bob')))).code).toBe(
      Status.PERMISSION_DENIED,
    );
    expect(await state()).toBe(WorkerState.WORKER_STATE_DRAINING);
  });

  it("answers GetVersion with its package's version to any user, and to no one else", async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(await m.identity.getVersion({}, m.as('alice'))).toEqual({ version: pkg.version });
    expect(await m.identity.getVersion({}, m.as('admin'))).toEqual({ version: pkg.version });
    const anonymous = connect(IdentityServiceDefinition, m.master.address);
    defer(() => anonymous.close());
    expect((await refusal(() => anonymous.client.getVersion({}))).code).toBe(Status.UNAUTHENTICATED);
    const asWorker = bearer(issueWorkerCredential(m.signingKey, 'w1'));
    expect((await refusal(() => anonymous.client.getVersion({}, asWorker))).code).toBe(Status.PERMISSION_DENIED);
  });
});

describe('each API takes its own principal', () => {
  it("refuses a user's token on the cluster and scheduler APIs, and a worker credential or the join secret on the task API", async () => {
    const asUser = bearer(m.tokens.alice);
    const cluster = connect(ClusterServiceDefinition, m.master.address);
    const scheduler = connect(SchedulerServiceDefinition, m.master.address);
    defer(() => cluster.close());
    defer(() => scheduler.close());
    for (const call of [
      () => cluster.client.heartbeat({ workerId: 'w1', running: [] }, asUser),
      () => cluster.client.registerWorker({ workerId: 'w9', address: '127.0.0.1:1', capacity: { cpu: 1, memoryGb: 1 } }, asUser),
      () => cluster.client.reportTaskStatus({ taskId: 't', assignmentId: 'a', status: TaskStatus.TASK_STATUS_RUNNING }, asUser),
      () => scheduler.client.getSnapshot({}, asUser),
      () => scheduler.client.commitPlacements({ placements: [], unplaced: [] }, asUser),
    ]) {
      expect((await refusal(call)).code).toBe(Status.PERMISSION_DENIED);
    }
    for (const credential of [issueWorkerCredential(m.signingKey, 'w1'), m.joinSecret]) {
      const err = await refusal(() => m.tasks.listTasks({}, bearer(credential)));
      expect(err.code).toBe(Status.PERMISSION_DENIED);
      expect(err.details).toMatch(/needs a user's API token/);
    }
    // A worker credential is not a ticket to register or to schedule either.
    const worker = bearer(issueWorkerCredential(m.signingKey, 'w1'));
    expect((await refusal(() => scheduler.client.getSnapshot({}, worker))).code).toBe(Status.PERMISSION_DENIED);
  });

  it('refuses registration with a wrong join secret, and a worker credential the master did not sign', async () => {
    const cluster = connect(ClusterServiceDefinition, m.master.address);
    defer(() => cluster.close());
    const register = { workerId: 'w9', address: '127.0.0.1:1', capacity: { cpu: 1, memoryGb: 1 } };
    const wrong = await refusal(() => cluster.client.registerWorker(register, bearer(`caj_${'A'.repeat(43)}`)));
    expect(wrong).toMatchObject({ code: Status.UNAUTHENTICATED, details: 'wrong join secret' });
    const forged = bearer(issueWorkerCredential(SigningKey.generate(), 'w1'));
    expect((await refusal(() => cluster.client.heartbeat({ workerId: 'w1', running: [] }, forged))).details).toMatch(/bad signature/);
  });

  it("refuses worker B's reports on worker A's assignment, and B speaking as A", async () => {
    const a = await registeredWorker(m, 'wa');
    await registeredWorker(m, 'wb');
    const task = await submit(m);
    const assignmentId = await startRunning(m, a, task.taskId);
    const b = m.clusterAs('wb');
    const calls = [
      () => b.reportTaskStatus({ taskId: task.taskId, assignmentId, status: TaskStatus.TASK_STATUS_UPLOADING }),
      () => b.appendLogs({ taskId: task.taskId, assignmentId, chunks: [], droppedBytes: 0 }),
      () => b.completeTask(completion(task.taskId, assignmentId, { workerId: 'wb' })),
      () => b.heartbeat({ workerId: 'wa', running: [] }),
    ];
    for (const call of calls) expect((await refusal(call)).code).toBe(Status.PERMISSION_DENIED);
    expect((await m.tasks.getTask({ taskId: task.taskId })).task?.status).toBe(TaskStatus.TASK_STATUS_RUNNING);
    // A itself still reports.
    await m.clusterAs('wa').completeTask(completion(task.taskId, assignmentId, { workerId: 'wa' }));
  });

  it('hands a worker an upload grant with UPLOADING, naming what the master knows of the task', async () => {
    const w = await registeredWorker(m);
    const task = await submit(m, { taskName: 'exp-001' }, 'alice');
    const assignmentId = await startRunning(m, w, task.taskId);
    const { uploadGrant } = await m.cluster.reportTaskStatus({
      taskId: task.taskId,
      assignmentId,
      status: TaskStatus.TASK_STATUS_UPLOADING,
    });
    const claims = JSON.parse(Buffer.from(uploadGrant.split('.')[0]!.slice(4), 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({
      typ: 'grant',
      taskId: task.taskId,
      assignmentId,
      userId: 'alice',
      taskName: 'exp-001',
      submittedAt: task.submittedAt!.getTime(),
    });
  });
});

describe('users and tokens', () => {
  it('bootstraps one admin with a token in a 0600 file, logging where it is but never the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const fresh = await master({}, undefined, {}, createLogger({ name: 'master-test', level: 'info', destination: sink }));
    const file = join(fresh.dataDir.path, 'master', 'bootstrap-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect(token).toMatch(/^cai_/);
    const log = lines.join('');
    expect(log).toContain(file);
    expect(log).not.toContain(token.slice(4));
    expect(log).not.toContain(fresh.joinSecret);
    const me = await fresh.identity.whoAmI({}, bearer(token));
    expect(me.user).toMatchObject({ userName: 'admin', role: Role.ROLE_ADMIN });
    // A restart on the same folder makes no second admin and keeps the token working.
    await fresh.stop();
    const again = await master({}, fresh.dataDir);
    expect((await again.identity.listUsers({})).users.filter((u) => u.role === Role.ROLE_ADMIN)).toHaveLength(1);
    expect((await again.identity.whoAmI({}, bearer(token))).user?.userName).toBe('admin');
  });

  it('lets only admins create, list and disable users', async () => {
    for (const call of [
      () => m.identity.createUser({ userName: 'eve' }, m.as('alice')),
      () => m.identity.listUsers({}, m.as('alice')),
      () => m.identity.setUserDisabled({ userName: 'bob', disabled: true }, m.as('alice')),
      () => m.identity.createToken({ userName: 'bob', description: '', expiresInSeconds: 0 }, m.as('alice')),
      () => m.identity.listTokens({ allUsers: true }, m.as('alice')),
    ]) {
      expect((await refusal(call)).code).toBe(Status.PERMISSION_DENIED);
    }
  });

  it("a new user's token works at once; disabling the user stops it; enabling brings it back", async () => {
    const carol = await m.identity.createUser({ userName: 'carol' });
    expect(carol.secretToken).toMatch(/^cai_[a-z2-7]{16}_/);
    expect((await m.tasks.listTasks({}, bearer(carol.secretToken))).tasks).toEqual([]);
    await m.identity.setUserDisabled({ userName: 'carol', disabled: true });
    expect((await refusal(() => m.tasks.listTasks({}, bearer(carol.secretToken)))).details).toMatch(/user carol is disabled/);
    await m.identity.setUserDisabled({ userName: 'carol', disabled: false });
    await m.tasks.listTasks({}, bearer(carol.secretToken));
    expect((await refusal(() => m.identity.createUser({ userName: 'carol' }))).code).toBe(Status.ALREADY_EXISTS);
    expect((await refusal(() => m.identity.createUser({ userName: '../x' }))).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('lists tokens without secrets; a user revokes their own token, and another user\'s answers NOT_FOUND', async () => {
    const made = await m.identity.createToken({ userName: '', description: 'laptop', expiresInSeconds: 0 }, m.as('alice'));
    const { tokens } = await m.identity.listTokens({}, m.as('alice'));
    expect(tokens.map((t) => t.description)).toContain('laptop');
    expect(JSON.stringify(tokens)).not.toContain(made.secretToken.slice(22));
    expect((await refusal(() => m.identity.revokeToken({ tokenId: made.token!.tokenId }, m.as('bob')))).code).toBe(
      Status.NOT_FOUND,
    );
    await m.tasks.listTasks({}, bearer(made.secretToken));
    const { token } = await m.identity.revokeToken({ tokenId: made.token!.tokenId }, m.as('alice'));
    expect(token?.revokedAt).toBeInstanceOf(Date);
    expect((await refusal(() => m.tasks.listTasks({}, bearer(made.secretToken)))).details).toMatch(/was revoked/);
  });
});

describe('data from before users existed', () => {
  it("keeps its tasks, which the admin sees and their user owns once the admin creates them", async () => {
    const dir = await tempDir('cloudai-master-legacy-');
    defer(() => dir.remove());
    // A data folder as the release before users left it: tasks, no USERS, TOKENS or EVENTS.
    const dbPath = join(dir.path, 'master', 'cloudai.db');
    await mkdir(join(dir.path, 'master'), { recursive: true });
    const store = await openSqliteStore(dbPath);
    const old = newTaskRecord({
      taskId: '0190a000-0000-7000-8000-0000000000aa',
      taskName: 'legacy',
      userId: 'alice',
      image: 'alpine:3',
      command: [],
      env: {},
      resources: { cpu: 1, memoryGb: 1, storageGb: 0, gpu: 0 },
      timeoutSeconds: 0,
      network: false,
      reason: '',
      pinnedWorkerId: null,
      submittedAt: new Date('2025-06-01T00:00:00Z'),
      idempotencyKey: '0190a000-0000-7000-8000-0000000000aa',
    });
    await store.createTask(old);
    await store.close();
    const db = new DatabaseSync(dbPath);
    // As version 2 left it: no users, tokens or events, nor the later task columns and indexes.
    db.exec(
      'DROP TABLE USERS; DROP TABLE TOKENS; DROP TABLE EVENTS; ' +
        'ALTER TABLE TASKS DROP COLUMN queued_at; ALTER TABLE TASKS DROP COLUMN uploading_at; ' +
        'DROP INDEX TASKS_user_id_submitted_at; DROP INDEX TASKS_user_id_status_submitted_at; ' +
        'DROP INDEX TASKS_user_id_task_name_submitted_at; DROP INDEX TASKS_task_name_submitted_at; DROP INDEX TASKS_status_submitted_at_task_id; ' +
        'PRAGMA user_version = 2;',
    );
    db.close();

    const legacy = await master({}, dir);
    const seen = await legacy.tasks.getTask({ taskId: old.taskId }, legacy.as('admin'));
    expect(seen.task).toMatchObject({ taskName: 'legacy', userId: 'alice' });
    expect((await legacy.tasks.getTask({ taskId: old.taskId }, legacy.as('alice'))).task?.userId).toBe('alice');
    expect((await refusal(() => legacy.tasks.getTask({ taskId: old.taskId }, legacy.as('bob')))).code).toBe(Status.NOT_FOUND);
  });
});

