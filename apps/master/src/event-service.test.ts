import { issueWorkerCredential } from '@cloudai/auth';
import { EventServiceDefinition, TaskProgress, type Event, type EventFilter, type FollowEventsResponse } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { openMongoStore } from '@cloudai/store';
import { startMongoWireServer, waitFor } from '@cloudai/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { Status, startRunning, submit, TaskStatus, useMasters, type TestMaster, type TestUser } from './testing/harness.js';

const { master, registeredWorker, defer } = useMasters();

function filter(f: Partial<EventFilter> = {}): EventFilter {
  return { taskId: '', workerId: '', ...f };
}

async function list(m: TestMaster, user: TestUser, f: Partial<EventFilter> = {}): Promise<Event[]> {
  return (await m.events.listEvents({ filter: filter(f), afterSeq: 0, limit: 1000, latest: false }, m.as(user))).events;
}

/** Waits until `user` sees at least `n` events matching `f`. */
function listAtLeast(m: TestMaster, user: TestUser, n: number, f: Partial<EventFilter> = {}): Promise<Event[]> {
  return waitFor(async () => {
    const found = await list(m, user, f);
    return found.length >= n ? found : undefined;
  }, { what: `${n} events for ${user}` });
}

/** Collects what a FollowEvents stream sends until the test ends it. */
function follow(m: TestMaster, user: TestUser, afterSeq: number, f: Partial<EventFilter> = {}) {
  const controller = new AbortController();
  const received: Event[] = [];
  /** each response's events, in order */
  const responses: Event[][] = [];
  const done = (async () => {
    try {
      const stream = m.events.followEvents({ filter: filter(f), afterSeq }, { ...m.as(user), signal: controller.signal });
      for await (const res of stream as AsyncIterable<FollowEventsResponse>) {
        responses.push(res.events);
        received.push(...res.events);
      }
      return 'ended' as const;
    } catch (err) {
      if (controller.signal.aborted) return 'aborted' as const;
      throw err;
    }
  })();
  defer(() => controller.abort());
  return { received, responses, done, stop: () => controller.abort() };
}

describe('EventService', () => {
  it("a user sees only their own tasks' events; an admin sees every event", async () => {
    const m = await master();
    const w = await registeredWorker(m);
    const alices = await submit(m, {}, 'alice');
    const bobs = await submit(m, {}, 'bob');
    await startRunning(m, w, alices.taskId);
    await startRunning(m, w, bobs.taskId);

    const forAlice = await listAtLeast(m, 'alice', 3);
    expect(forAlice.map((e) => [e.taskId, e.kind])).toEqual([
      [alices.taskId, 'task.queued'],
      [alices.taskId, 'task.scheduled'],
      [alices.taskId, 'task.started'],
    ]);
    const all = await listAtLeast(m, 'admin', 1, { taskId: bobs.taskId });
    expect(all.length).toBeGreaterThan(0);
    const everything = await list(m, 'admin');
    const kinds = new Set(everything.map((e) => e.kind));
    for (const k of ['user.created', 'token.created', 'worker.registered', 'task.started']) expect(kinds).toContain(k);
    expect(new Set(everything.map((e) => e.taskId))).toEqual(new Set(['', alices.taskId, bobs.taskId]));

    // A worker filter narrows a user's view to their tasks there, never the worker's own events.
    expect((await list(m, 'alice', { workerId: 'w1' })).map((e) => e.kind)).toEqual(['task.scheduled', 'task.started']);
    expect((await list(m, 'admin', { workerId: 'w1' })).map((e) => e.kind)).toContain('worker.registered');
  });

  it("another user's task answers NOT_FOUND exactly like GetTask, for listing and following", async () => {
    const m = await master();
    const bobs = await submit(m, {}, 'bob');
    const missing = '01890a5d-ac96-774b-bcce-b302099a8057';
    const asAlice = m.as('alice');
    const getOthers = await m.tasks.getTask({ taskId: bobs.taskId }, asAlice).catch((e: unknown) => e);
    const listOthers = await m.events
      .listEvents({ filter: filter({ taskId: bobs.taskId }), afterSeq: 0, limit: 0, latest: false }, asAlice)
      .catch((e: unknown) => e);
    expect(listOthers).toMatchObject({ code: Status.NOT_FOUND, details: `task ${bobs.taskId} not found` });
    expect((listOthers as { details: string }).details).toBe((getOthers as { details: string }).details);
    await expect(
      m.events.listEvents({ filter: filter({ taskId: missing }), afterSeq: 0, limit: 0, latest: false }, asAlice),
    ).rejects.toMatchObject({ code: Status.NOT_FOUND, details: `task ${missing} not found` });
    const followed = follow(m, 'alice', 0, { taskId: bobs.taskId });
    await expect(followed.done).rejects.toMatchObject({ code: Status.NOT_FOUND, details: `task ${bobs.taskId} not found` });
    // The owner and an admin get the task's events.
    expect((await listAtLeast(m, 'bob', 1, { taskId: bobs.taskId }))[0]!.kind).toBe('task.queued');
    expect((await list(m, 'admin', { taskId: bobs.taskId }))[0]!.kind).toBe('task.queued');
  });

  it('takes only user API tokens', async () => {
    const m = await master();
    const credential = issueWorkerCredential(m.signingKey, 'w1');
    const asWorker = connect(EventServiceDefinition, m.master.address, { bearer: () => credential });
    const anonymous = connect(EventServiceDefinition, m.master.address);
    defer(() => {
      asWorker.close();
      anonymous.close();
    });
    const request = { filter: filter(), afterSeq: 0, limit: 0, latest: false };
    await expect(asWorker.client.listEvents(request)).rejects.toMatchObject({ code: Status.PERMISSION_DENIED });
    await expect(anonymous.client.listEvents(request)).rejects.toMatchObject({ code: Status.UNAUTHENTICATED });
  });

  it('latest gives the newest events and a cursor; following from it sends only what is stored after', async () => {
    const m = await master();
    const first = await submit(m, {}, 'alice');
    await listAtLeast(m, 'alice', 1);
    const { events, cursor } = await m.events.listEvents(
      { filter: filter(), afterSeq: 0, limit: 1, latest: true },
      m.as('alice'),
    );
    expect(events.map((e) => e.taskId)).toEqual([first.taskId]);
    expect(cursor).toBe(events[0]!.seq);
    const followed = follow(m, 'alice', cursor);
    // Nothing new yet: the first response is empty, and says the stream is up.
    await waitFor(() => (followed.responses.length > 0 ? true : undefined), { what: 'the first response' });
    expect(followed.responses).toEqual([[]]);
    const second = await submit(m, {}, 'alice');
    await m.tasks.submitTask({ spec: { image: 'x:1', command: [], env: {}, taskName: '', timeoutSeconds: 0, network: false }, idempotencyKey: '' }, m.as('bob'));
    await m.tasks.cancelTask({ taskId: second.taskId, reason: '' }, m.as('alice'));
    await waitFor(() => (followed.received.length >= 2 ? true : undefined), { what: 'two followed events' });
    expect(followed.received.map((e) => [e.taskId, e.kind])).toEqual([
      [second.taskId, 'task.queued'],
      [second.taskId, 'task.cancelled'],
    ]);
  });

  it('a worker reports progress only on its own current assignment', async () => {
    const m = await master();
    const w1 = await registeredWorker(m, 'w1');
    await registeredWorker(m, 'w2');
    const t = await submit(m, { image: 'pytorch:2' });
    const assignmentId = await startRunning(m, w1, t.taskId);
    const report = { taskId: t.taskId, assignmentId, progress: TaskProgress.TASK_PROGRESS_PULLING_IMAGE, bytes: 0, files: 0, durationMs: 0 };
    await expect(m.clusterAs('w2').reportProgress(report)).rejects.toMatchObject({ code: Status.PERMISSION_DENIED });
    await expect(m.clusterAs('w1').reportProgress({ ...report, assignmentId: 'a-old' })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });
    await expect(m.clusterAs('w1').reportProgress({ ...report, progress: TaskProgress.TASK_PROGRESS_UNSPECIFIED })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
    });
    await m.clusterAs('w1').reportProgress(report);
    const found = await listAtLeast(m, 'default', 4, { taskId: t.taskId });
    expect(found.map((e) => [e.kind, e.message])).toEqual([
      ['task.queued', 'queued (pytorch:2)'],
      ['task.scheduled', 'scheduled on w1 (attempt 1)'],
      ['task.started', 'started on w1'],
      ['task.pulling_image', 'pulling image pytorch:2'],
    ]);
    expect(found[3]).toMatchObject({ workerId: 'w1', attempt: 1, userId: 'default' });
    expect((await m.tasks.getTask({ taskId: t.taskId })).task!.status).toBe(TaskStatus.TASK_STATUS_RUNNING);
  });
});

// The cursor must hold across a restart on either store (one master at a time).
const mongo = await startMongoWireServer('events followed across a master restart on MongoDB');
afterAll(() => mongo?.stop());
/** A database of its own on the MongoDB-wire server, named in the URI the master is given. */
function mongoEnv(uri: string): Record<string, string> {
  const [base, query] = uri.split('?');
  const db = `cloudai_events_${process.pid}_${Date.now()}`;
  return { MONGODB_URI: `${(base ?? '').replace(/\/?$/, '/')}${db}${query ? `?${query}` : ''}` };
}
const stores: [string, (() => Record<string, string>) | undefined][] = [
  ['SQLite', () => ({})],
  ['MongoDB', mongo ? () => mongoEnv(mongo.uri) : undefined],
];

describe.each(stores)('EventService on %s', (_name, storeEnv) => {
  it.skipIf(storeEnv === undefined)('a follower resumes across a master restart from its last seq: nothing missed, nothing repeated', async () => {
    const env = storeEnv!();
    const m1 = await master(env);
    if (env.MONGODB_URI) {
      const uri = env.MONGODB_URI;
      defer(async () => {
        const store = await openMongoStore(uri);
        await store.clear();
        await store.close();
      });
    }
    const t1 = await submit(m1, {}, 'alice');
    const before = follow(m1, 'alice', 0);
    await waitFor(() => (before.received.length >= 1 ? true : undefined), { what: 'the first event' });
    await m1.stop();
    // The master ends follow streams when it stops; the client resumes from what it saw.
    expect(await before.done).toBe('ended');
    const last = before.received.at(-1)!.seq;

    const m2 = await master(env, m1.dataDir);
    await m2.tasks.cancelTask({ taskId: t1.taskId, reason: '' }, m2.as('alice'));
    const t2 = await submit(m2, {}, 'alice');
    const after = follow(m2, 'alice', last);
    await waitFor(() => (after.received.length >= 2 ? true : undefined), { what: 'events after the restart' });
    const all = [...before.received, ...after.received];
    expect(all.map((e) => [e.taskId, e.kind])).toEqual([
      [t1.taskId, 'task.queued'],
      [t1.taskId, 'task.cancelled'],
      [t2.taskId, 'task.queued'],
    ]);
    expect(new Set(all.map((e) => e.seq)).size).toBe(all.length);
  });
});
