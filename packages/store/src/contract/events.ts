import { beforeEach, describe, expect, it } from 'vitest';
import type { EventRecord, NewEventRecord } from '../records.js';
import type { Store } from '../store.js';
import { range } from './fixtures.js';
import type { ContractSubject } from './subject.js';

const t0 = Date.UTC(2026, 2, 1);

export function makeEvent(overrides: Partial<NewEventRecord> = {}): NewEventRecord {
  return {
    time: new Date(t0),
    kind: 'task.queued',
    taskId: 'task-1',
    workerId: null,
    userId: 'alice',
    actor: null,
    attempt: 0,
    message: 'queued',
    reason: '',
    ...overrides,
  };
}

const seqs = (events: readonly EventRecord[]) => events.map((e) => e.seq);

/** EVENTS: an ordered log with a resume cursor that survives restarts and retention. */
export function describeEventContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('events', () => {
    it('gives each appended event the next seq, in order, and reads them back whole', async () => {
      const before = await store.lastEventSeq();
      const first = makeEvent({ message: 'queued', reason: 'waiting for the scheduler', actor: 'alice' });
      const second = makeEvent({
        time: new Date(t0 + 5),
        kind: 'worker.lost',
        taskId: null,
        workerId: 'w1',
        userId: null,
        attempt: 0,
        message: 'worker w1 lost',
      });
      const third = makeEvent({ time: new Date(t0 + 9), kind: 'task.scheduled', workerId: 'w1', attempt: 1, message: '' });
      const stored = [...(await store.appendEvents([first, second])), ...(await store.appendEvents([third]))];
      expect(stored).toEqual([first, second, third].map((e, i) => ({ ...e, seq: stored[i]!.seq })));
      const [a, b, c] = seqs(stored) as [number, number, number];
      expect(a).toBeGreaterThan(before);
      expect(b).toBe(a + 1);
      expect(c).toBeGreaterThan(b);
      expect(await store.listEvents({ afterSeq: before, limit: 10 })).toEqual(stored);
      expect(await store.lastEventSeq()).toBe(c);
      expect(await store.appendEvents([])).toEqual([]);
    });

    it('filters by cursor, task, worker, task owner and time; latest takes the newest, still in seq order', async () => {
      const stored = await store.appendEvents([
        makeEvent({ taskId: 'a', userId: 'alice', time: new Date(t0) }),
        makeEvent({ taskId: 'b', userId: 'bob', workerId: 'w1', time: new Date(t0 + 1) }),
        makeEvent({ kind: 'user.created', taskId: null, userId: 'alice', actor: 'admin', time: new Date(t0 + 2) }),
        makeEvent({ taskId: 'a', userId: 'alice', workerId: 'w1', time: new Date(t0 + 3) }),
        makeEvent({ kind: 'worker.registered', taskId: null, userId: null, workerId: 'w1', time: new Date(t0 + 4) }),
        makeEvent({ taskId: 'a', userId: 'alice', time: new Date(t0 + 5) }),
      ]);
      const [e0, e1, e2, e3, e4, e5] = stored as [EventRecord, EventRecord, EventRecord, EventRecord, EventRecord, EventRecord];
      const all = { afterSeq: e0.seq - 1, limit: 100 };
      expect(await store.listEvents({ ...all, taskId: 'a' })).toEqual([e0, e3, e5]);
      expect(await store.listEvents({ ...all, workerId: 'w1' })).toEqual([e1, e3, e4]);
      // An owner's view: their tasks' events, not the user event about them.
      expect(await store.listEvents({ ...all, taskOwner: 'alice' })).toEqual([e0, e3, e5]);
      expect(await store.listEvents({ ...all, taskOwner: 'alice', workerId: 'w1' })).toEqual([e3]);
      expect(await store.listEvents({ ...all, taskOwner: 'bob', taskId: 'a' })).toEqual([]);
      expect(await store.listEvents({ ...all, since: new Date(t0 + 3) })).toEqual([e3, e4, e5]);
      expect(await store.listEvents({ afterSeq: e2.seq, limit: 2 })).toEqual([e3, e4]);
      expect(await store.listEvents({ ...all, limit: 2, latest: true })).toEqual([e4, e5]);
      expect(await store.listEvents({ ...all, taskId: 'a', limit: 2, latest: true })).toEqual([e3, e5]);
      expect(await store.listEvents({ afterSeq: e5.seq, limit: 10 })).toEqual([]);
      // throughSeq bounds from above, inclusively; latest then takes the newest at or below it.
      expect(await store.listEvents({ ...all, throughSeq: e3.seq })).toEqual([e0, e1, e2, e3]);
      expect(await store.listEvents({ ...all, taskId: 'a', throughSeq: e4.seq, limit: 1, latest: true })).toEqual([e3]);
      expect(await store.listEvents({ afterSeq: e3.seq, throughSeq: e3.seq, limit: 10 })).toEqual([]);
      await expect(store.listEvents({ limit: 0 })).rejects.toThrow(RangeError);
      await expect(store.listEvents({ afterSeq: -1, limit: 1 })).rejects.toThrow(RangeError);
      await expect(store.listEvents({ throughSeq: 1.5, limit: 1 })).rejects.toThrow(RangeError);
    });

    it('removes events older than a cutoff and never hands out a seq again, even after all were removed', async () => {
      const old = await store.appendEvents([makeEvent({ time: new Date(t0) }), makeEvent({ time: new Date(t0 + 10) })]);
      expect(await store.deleteEventsBefore(new Date(t0 + 10))).toBe(1);
      expect(seqs(await store.listEvents({ limit: 10 }))).toEqual([old[1]!.seq]);
      expect(await store.deleteEventsBefore(new Date(t0 + 11))).toBe(1);
      expect(await store.lastEventSeq()).toBe(0);
      // A new store over the same database, as a restarted master has.
      const restarted = await subject.second();
      const [next] = await restarted.appendEvents([makeEvent()]);
      expect(next!.seq).toBeGreaterThan(old[1]!.seq);
      expect(await store.listEvents({ afterSeq: old[1]!.seq, limit: 10 })).toEqual([next]);
    });

    it('a follower reading while appends race misses nothing and repeats nothing', async () => {
      const start = await store.lastEventSeq();
      const writers = range(0, 40).map((i) =>
        store.appendEvents(range(0, 1 + (i % 3)).map((j) => makeEvent({ taskId: `t${i}`, attempt: j }))),
      );
      let done = false;
      const all = Promise.all(writers).finally(() => {
        done = true;
      });
      const seen: EventRecord[] = [];
      let cursor = start;
      // Reads as FollowEvents does: after the last seq seen, until the writers are done and nothing is left.
      for (;;) {
        const finished = done;
        const page = await store.listEvents({ afterSeq: cursor, limit: 7 });
        seen.push(...page);
        if (page.length > 0) cursor = page[page.length - 1]!.seq;
        else if (finished) break;
        else await new Promise((r) => setImmediate(r));
      }
      const appended = (await all).flat();
      expect(seqs(seen)).toEqual(seqs(appended).sort((x, y) => x - y));
      expect(new Set(seqs(seen)).size).toBe(seen.length);
    });

    it('appends from two stores over one database never share a seq', async () => {
      const second = await subject.second();
      const results = await Promise.all(
        range(0, 20).map((i) => (i % 2 ? second : store).appendEvents([makeEvent(), makeEvent()])),
      );
      const all = seqs(results.flat());
      expect(new Set(all).size).toBe(40);
      for (const batch of results) expect(batch[1]!.seq).toBe(batch[0]!.seq + 1);
    });
  });
}
