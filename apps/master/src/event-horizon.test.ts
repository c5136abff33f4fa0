import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { createLogger } from '@cloudai/logger';
import { openMongoStore, openSqliteStore, type EventRecord, type NewEventRecord, type Store } from '@cloudai/store';
import { startMongoWireServer, tempDir, waitFor } from '@cloudai/testing';
import mongoose from 'mongoose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GAP_WAIT_MS } from './event-horizon.js';
import { EventLog } from './event-log.js';

/**
 * A real store, and what a second master appending to the same database
 * does in two steps: take the next seq, and store its event some time later.
 */
interface Backend {
  store: Store;
  takeSeq(): Promise<number>;
  /** Stores a copy of the event at `like`, with `message`, at the seq taken. */
  storeLate(seq: number, like: number, message: string): Promise<void>;
  close(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = await tempDir('cloudai-event-horizon-');
  const path = join(dir.path, 'cloudai.db');
  const store = await openSqliteStore(path);
  const db = new DatabaseSync(path);
  return {
    store,
    async takeSeq() {
      return Number(db.prepare("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'EVENTS' RETURNING seq").get()!.seq);
    },
    async storeLate(seq, like, message) {
      db.prepare(
        `INSERT INTO EVENTS (seq, time, kind, task_id, worker_id, user_id, actor, attempt, message, reason)
         SELECT ?, time, kind, task_id, worker_id, user_id, actor, attempt, ?, reason FROM EVENTS WHERE seq = ?`,
      ).run(seq, message, like);
    },
    async close() {
      db.close();
      await store.close();
      await dir.remove();
    },
  };
}

const mongo = await startMongoWireServer('events stored out of seq order on MongoDB');
afterAll(() => mongo?.stop());

async function mongoBackend(uri: string): Promise<Backend> {
  const dbName = `cloudai_event_horizon_${process.pid}_${Date.now()}`;
  const store = await openMongoStore(uri, { dbName });
  const conn = await mongoose.createConnection(uri, { dbName }).asPromise();
  const db = conn.db!;
  return {
    store,
    async takeSeq() {
      // What appendEvents does before it inserts.
      const counter = await db.collection('COUNTERS').findOneAndUpdate({ name: 'events' }, { $inc: { value: 1 } }, { returnDocument: 'after' });
      return counter!.value as number;
    },
    async storeLate(seq, like, message) {
      const { _id, ...doc } = (await db.collection('EVENTS').findOne({ seq: like }))!;
      await db.collection('EVENTS').insertOne({ ...doc, seq, message });
    },
    async close() {
      await store.close();
      await conn.dropDatabase();
      await conn.close();
    },
  };
}

const backends: [string, (() => Promise<Backend>) | undefined][] = [
  ['SQLite', sqliteBackend],
  ['MongoDB', mongo ? () => mongoBackend(mongo.uri) : undefined],
];

/** A clock that moves only when the test moves it. */
function testClock() {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by: number) => void (ms += by) };
}

function event(message: string, taskId = 't1'): NewEventRecord {
  return { time: new Date(), kind: 'task.queued', taskId, workerId: null, userId: 'alice', actor: null, attempt: 0, message, reason: '' };
}

const messages = (events: readonly EventRecord[]) => events.map((e) => e.message);

describe.each(backends)('events stored out of seq order on %s', (_name, open) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** An event log over a fresh database, its test clock, and what a second master does. */
  async function setUp() {
    const backend = await open!();
    const clock = testClock();
    const log = new EventLog(backend.store, createLogger({ name: 'master-test', level: 'silent' }), { now: clock.now });
    cleanup.push(() => backend.close());
    cleanup.push(() => log.flush());
    return { ...backend, clock, log };
  }

  /** Collects what follow() sends, from the first event on. */
  function follow(log: EventLog, taskId?: string) {
    const controller = new AbortController();
    const received: EventRecord[] = [];
    const done = (async () => {
      for await (const page of log.follow({ afterSeq: 0, taskId }, controller.signal)) received.push(...page);
    })();
    cleanup.push(async () => {
      controller.abort();
      await done;
    });
    return received;
  }

  /** Records an event through the log (which wakes its followers) and waits until `received` holds it. */
  async function recordAndAwait(log: EventLog, message: string, taskId: string, ...followers: EventRecord[][]): Promise<void> {
    log.record({ kind: 'task.cancelled', taskId, userId: 'alice', message });
    await waitFor(() => (followers.every((f) => f.some((e) => e.message === message)) ? true : undefined), {
      what: `"${message}" followed`,
    });
  }

  it.skipIf(open === undefined)(
    'an event stored after a later seq is followed exactly once and in seq order; a list holds its cursor below it meanwhile',
    async () => {
      const { store, takeSeq, storeLate, log } = await setUp();
      const [a] = await store.appendEvents([event('a')]);
      // Master 1 takes the next seq; master 2 takes the one after and stores its event first.
      const late = await takeSeq();
      const [c] = await store.appendEvents([event('c')]);
      expect([late, c!.seq]).toEqual([a!.seq + 1, a!.seq + 2]);

      // A list shows what is settled, with a cursor that does not skip the gap.
      expect(await log.list({ limit: 100 })).toEqual({ events: [a], cursor: a!.seq });
      const received = follow(log);
      await waitFor(() => (received.length > 0 ? true : undefined), { what: 'the first event followed' });
      expect(messages(received)).toEqual(['a']);

      await storeLate(late, a!.seq, 'b');
      await recordAndAwait(log, 'd', 't1', received);
      expect(received.map((e) => [e.seq, e.message])).toEqual([
        [a!.seq, 'a'],
        [late, 'b'],
        [c!.seq, 'c'],
        [c!.seq + 1, 'd'],
      ]);
      const listed = await log.list({ limit: 100 });
      expect(messages(listed.events)).toEqual(['a', 'b', 'c', 'd']);
      expect(listed.cursor).toBe(c!.seq + 1);
    },
  );

  it.skipIf(open === undefined)(
    'a seq never stored holds readers for GAP_WAIT_MS, then what follows it flows; stored later still, it is never followed',
    async () => {
      const { store, takeSeq, storeLate, clock, log } = await setUp();
      const [a] = await store.appendEvents([event('a')]);
      const lost = await takeSeq();
      await store.appendEvents([event('c', 't2')]);
      const all = follow(log);
      await waitFor(() => (all.length > 0 ? true : undefined), { what: 'the first event followed' });

      clock.advance(GAP_WAIT_MS - 1);
      expect(await log.list({ limit: 100 })).toEqual({ events: [a], cursor: a!.seq });
      clock.advance(1);
      await recordAndAwait(log, 'd', 't2', all);
      expect(messages(all)).toEqual(['a', 'c', 'd']);
      expect(messages((await log.list({ limit: 100 })).events)).toEqual(['a', 'c', 'd']);

      // Given up on, then stored: a list shows it; no follower that moved
      // past it sends it, not even one whose matches all lie below it.
      const t1 = follow(log, 't1');
      await waitFor(() => (t1.length > 0 ? true : undefined), { what: "t1's first event followed" });
      await storeLate(lost, a!.seq, 'too late');
      await recordAndAwait(log, 'e', 't1', all, t1);
      expect(messages(all)).toEqual(['a', 'c', 'd', 'e']);
      expect(messages(t1)).toEqual(['a', 'e']);
      expect(messages((await log.list({ limit: 100 })).events)).toEqual(['a', 'too late', 'c', 'd', 'e']);
    },
  );

  it.skipIf(open === undefined)('a restarted master does not wait on the seqs retention removed', async () => {
    const { store, log } = await setUp();
    const old = new Date(Date.UTC(2026, 0, 1));
    await store.appendEvents([{ ...event('a'), time: old }, { ...event('b'), time: old }]);
    const [c] = await store.appendEvents([event('c')]);
    expect(await store.deleteEventsBefore(new Date(old.getTime() + 1))).toBe(2);
    // `log` has not looked at the log yet, as after a restart.
    expect(await log.list({ limit: 100 })).toEqual({ events: [c], cursor: c!.seq });
  });
});
