import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { newTaskId } from '@cloudai/domain';
import { logPosition, type LogChunkRecord } from '../records.js';
import type { Store } from '../store.js';
import { bytesOf, makeChunk, makeTask, range, text } from './fixtures.js';
import type { ContractSubject } from './subject.js';

/** LOG_CHUNKS, and the task's log byte counters. */
export function describeLogChunkContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('log chunks', () => {
    const a1 = 'assignment-1';
    const a2 = 'assignment-2';

    it('appends idempotently: a resend stores nothing, a mixed batch counts only the new chunks', async () => {
      const taskId = newTaskId();
      const batch = range(0, 5).map((seq) => makeChunk(taskId, a1, 1, seq));
      expect(await store.appendLogChunks(batch)).toEqual({ inserted: 5, insertedBytes: bytesOf(batch) });
      expect(await store.appendLogChunks(batch)).toEqual({ inserted: 0, insertedBytes: 0 });

      // A resent chunk never overwrites what was stored first.
      const changed = makeChunk(taskId, a1, 1, 0, { data: text('rewritten'), stream: 'stderr' });
      const mixed = [changed, ...range(3, 8).map((seq) => makeChunk(taskId, a1, 1, seq))];
      const fresh = mixed.filter((c) => c.seq >= 5);
      expect(await store.appendLogChunks(mixed)).toEqual({ inserted: 3, insertedBytes: bytesOf(fresh) });

      // A duplicate inside one batch is stored once, too.
      const twice = [makeChunk(taskId, a1, 1, 8), makeChunk(taskId, a1, 1, 8)];
      expect(await store.appendLogChunks(twice)).toEqual({ inserted: 1, insertedBytes: bytesOf(twice.slice(1)) });
      expect(await store.appendLogChunks([])).toEqual({ inserted: 0, insertedBytes: 0 });

      const stored = await store.readLogChunks(taskId, { limit: 100 });
      expect(stored).toEqual(range(0, 9).map((seq) => makeChunk(taskId, a1, 1, seq)));
    });

    it('stores each chunk once when 10 identical batches are appended concurrently', async () => {
      const other = await subject.second();
      const taskId = newTaskId();
      const batch = range(0, 20).map((seq) => makeChunk(taskId, a1, 1, seq));
      const results = await Promise.all(range(0, 10).map((i) => (i % 2 ? other : store).appendLogChunks(batch)));
      expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(20);
      expect(results.reduce((n, r) => n + r.insertedBytes, 0)).toBe(bytesOf(batch));
      expect(await store.readLogChunks(taskId, { limit: 100 })).toEqual(batch);
    });

    it('reads in log order across attempts: attempt 2 seq 0 comes after attempt 1 seq 99', async () => {
      const taskId = newTaskId();
      const first = range(0, 100).map((seq) => makeChunk(taskId, a1, 1, seq));
      const retry = range(0, 5).map((seq) => makeChunk(taskId, a2, 2, seq));
      // Stored out of order, so the order must come from the store.
      await store.appendLogChunks(retry);
      await store.appendLogChunks([...first].reverse());
      await store.appendLogChunks([makeChunk(newTaskId(), a1, 1, 0)]);

      const all = await store.readLogChunks(taskId, { limit: 1000 });
      expect(all).toEqual([...first, ...retry]);
      const positions = all.map(logPosition);
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      expect(logPosition({ attempt: 2, seq: 0 })).toBeGreaterThan(logPosition({ attempt: 1, seq: 99 }));
      expect(await store.readLogChunks(taskId, { afterPosition: logPosition({ attempt: 1, seq: 99 }), limit: 1 }))
        .toEqual([retry[0]]);
    });

    it('gives the newest chunk\'s attempt and seq as the point where appending resumes', async () => {
      const taskId = newTaskId();
      expect(await store.lastLogSeq(taskId)).toBeNull();
      await store.appendLogChunks([...range(0, 7).map((seq) => makeChunk(taskId, a1, 1, seq))].reverse());
      expect(await store.lastLogSeq(taskId)).toEqual({ attempt: 1, seq: 6 });
      // A later attempt's first chunk is newer than any of the earlier attempt's.
      await store.appendLogChunks([makeChunk(taskId, a2, 2, 0)]);
      await store.appendLogChunks([makeChunk(newTaskId(), a1, 3, 9)]);
      expect(await store.lastLogSeq(taskId)).toEqual({ attempt: 2, seq: 0 });
    });

    it('resumes from afterPosition with no gap and no duplicate', async () => {
      const taskId = newTaskId();
      const chunks = [
        ...range(0, 23).map((seq) => makeChunk(taskId, a1, 1, seq)),
        ...range(0, 11).map((seq) => makeChunk(taskId, a2, 2, seq)),
      ];
      await store.appendLogChunks(chunks);
      const seen: LogChunkRecord[] = [];
      let afterPosition = 0;
      for (;;) {
        const page = await store.readLogChunks(taskId, { afterPosition, limit: 7 });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(7);
        seen.push(...page);
        afterPosition = logPosition(page[page.length - 1] as LogChunkRecord);
      }
      expect(seen).toEqual(chunks);
      expect(await store.readLogChunks(taskId, { afterPosition: 0, limit: 100 })).toEqual(chunks);
    });

    it('filters by streams and since, combined with the limit and a resume position', async () => {
      const taskId = newTaskId();
      const chunks = range(0, 10).map((seq) =>
        makeChunk(taskId, a1, 1, seq, { stream: seq % 3 === 0 ? 'stderr' : 'stdout' }),
      );
      await store.appendLogChunks(chunks);
      const stderr = chunks.filter((c) => c.stream === 'stderr');
      expect(await store.readLogChunks(taskId, { streams: ['stderr'], limit: 100 })).toEqual(stderr);
      expect(await store.readLogChunks(taskId, { streams: ['stdout', 'stderr'], limit: 100 })).toEqual(chunks);
      expect(await store.readLogChunks(taskId, { streams: [], limit: 100 })).toEqual([]);

      // since is inclusive: the chunk stamped exactly at `since` is included.
      const since = (chunks[4] as LogChunkRecord).ts;
      expect(await store.readLogChunks(taskId, { since, limit: 100 })).toEqual(chunks.slice(4));
      expect(await store.readLogChunks(taskId, { since, streams: ['stderr'], limit: 100 })).toEqual(
        chunks.slice(4).filter((c) => c.stream === 'stderr'),
      );
      expect(await store.readLogChunks(taskId, { limit: 3 })).toEqual(chunks.slice(0, 3));
      const after = logPosition(chunks[2] as LogChunkRecord);
      expect(await store.readLogChunks(taskId, { afterPosition: after, streams: ['stdout'], limit: 2 })).toEqual(
        chunks.slice(3).filter((c) => c.stream === 'stdout').slice(0, 2),
      );
    });

    it('reads backward, newest first, for a tail', async () => {
      const taskId = newTaskId();
      const chunks = [
        ...range(0, 8).map((seq) => makeChunk(taskId, a1, 1, seq, { stream: seq % 2 ? 'stderr' : 'stdout' })),
        ...range(0, 4).map((seq) => makeChunk(taskId, a2, 2, seq, { stream: seq % 2 ? 'stderr' : 'stdout' })),
      ];
      await store.appendLogChunks(chunks);
      const newestFirst = [...chunks].reverse();

      const tail = await store.readLogChunksBackward(taskId, { limit: 5 });
      expect(tail).toEqual(newestFirst.slice(0, 5));
      const beforePosition = logPosition(tail[tail.length - 1] as LogChunkRecord);
      expect(await store.readLogChunksBackward(taskId, { beforePosition, limit: 5 })).toEqual(
        newestFirst.slice(5, 10),
      );
      expect(await store.readLogChunksBackward(taskId, { streams: ['stderr'], limit: 3 })).toEqual(
        newestFirst.filter((c) => c.stream === 'stderr').slice(0, 3),
      );
      const since = (chunks[6] as LogChunkRecord).ts;
      expect(await store.readLogChunksBackward(taskId, { since, limit: 100 })).toEqual(
        newestFirst.filter((c) => c.ts >= since),
      );
      expect(
        await store.readLogChunksBackward(taskId, { beforePosition: logPosition({ attempt: 1, seq: 0 }), limit: 5 }),
      ).toEqual([]);
      expect(await store.readLogChunksBackward(newTaskId(), { limit: 5 })).toEqual([]);
    });

    it('returns data byte-exactly: every byte value, a 256 KiB random chunk, an empty chunk, a marker', async () => {
      const taskId = newTaskId();
      const everyByte = new Uint8Array(range(0, 256));
      const random = new Uint8Array(randomBytes(256 * 1024));
      const chunks = [
        makeChunk(taskId, a1, 1, 0, { data: everyByte }),
        makeChunk(taskId, a1, 1, 1, { data: random }),
        makeChunk(taskId, a1, 1, 2, { data: new Uint8Array(0) }),
        makeChunk(taskId, a1, 1, 3, { data: text('[cloudai: log truncated]\n'), marker: true, stream: 'stderr' }),
        // A view into a larger buffer: only the viewed bytes are stored.
        makeChunk(taskId, a1, 1, 4, { data: everyByte.subarray(10, 20) }),
      ];
      expect(await store.appendLogChunks(chunks)).toEqual({ inserted: 5, insertedBytes: bytesOf(chunks) });
      expect(bytesOf(chunks)).toBe(256 + 256 * 1024 + 0 + 25 + 10);
      const got = await store.readLogChunks(taskId, { limit: 10 });
      expect(got).toHaveLength(chunks.length);
      got.forEach((c, i) => {
        const want = chunks[i] as LogChunkRecord;
        expect(c.data).toBeInstanceOf(Uint8Array);
        expect(c.data.byteLength).toBe(want.data.byteLength);
        expect(Buffer.from(c.data).equals(Buffer.from(want.data))).toBe(true);
        expect({ ...c, data: null }).toEqual({ ...want, data: null });
      });
      expect(got[3]?.marker).toBe(true);
    });

    it("deletes one task's chunks and reports how many", async () => {
      const t1 = newTaskId();
      const t2 = newTaskId();
      await store.appendLogChunks(range(0, 6).map((seq) => makeChunk(t1, a1, 1, seq)));
      await store.appendLogChunks(range(0, 2).map((seq) => makeChunk(t2, a1, 1, seq)));
      expect(await store.deleteLogChunks(t1)).toBe(6);
      expect(await store.readLogChunks(t1, { limit: 100 })).toEqual([]);
      expect(await store.readLogChunks(t2, { limit: 100 })).toHaveLength(2);
      expect(await store.deleteLogChunks(t1)).toBe(0);
      // Deleted chunks may be appended again (e.g. a task re-run after a purge).
      expect((await store.appendLogChunks([makeChunk(t1, a1, 1, 0)])).inserted).toBe(1);
    });

    it('refuses chunks whose position cannot be encoded, and bad bounds and limits, storing nothing', async () => {
      const taskId = newTaskId();
      const good = makeChunk(taskId, a1, 1, 0);
      await expect(store.appendLogChunks([good, makeChunk(taskId, a1, 1, 2 ** 32)])).rejects.toThrow(/seq/);
      await expect(store.appendLogChunks([makeChunk(taskId, a1, -1, 0)])).rejects.toThrow(/attempt/);
      expect(await store.readLogChunks(taskId, { limit: 10 })).toEqual([]);
      await expect(store.readLogChunks(taskId, { limit: 0 })).rejects.toThrow(/limit/);
      await expect(store.readLogChunks(taskId, { afterPosition: -1, limit: 1 })).rejects.toThrow(/afterPosition/);
      await expect(store.readLogChunksBackward(taskId, { beforePosition: 1.5, limit: 1 })).rejects.toThrow(
        /beforePosition/,
      );
    });

    it('adds log bytes atomically: 20 concurrent increments sum exactly', async () => {
      const other = await subject.second();
      const task = makeTask({ logBytes: 100, logDroppedBytes: 1 });
      await store.createTask(task);
      const results = await Promise.all(
        range(0, 20).map((i) => (i % 2 ? other : store).addLogBytes(task.taskId, i + 1, i % 3)),
      );
      expect(results.every((r) => r?.taskId === task.taskId)).toBe(true);
      const got = await store.getTask(task.taskId);
      expect(got?.logBytes).toBe(100 + 210);
      expect(got?.logDroppedBytes).toBe(1 + range(0, 20).reduce((n, i) => n + (i % 3), 0));
      expect(got?.updatedAt.getTime()).toBeGreaterThan(task.updatedAt.getTime());
      // Every other field is untouched.
      expect({ ...got, logBytes: 0, logDroppedBytes: 0, updatedAt: null }).toEqual({
        ...task,
        logBytes: 0,
        logDroppedBytes: 0,
        updatedAt: null,
      });
      expect(await store.addLogBytes(newTaskId(), 1, 0)).toBeNull();
      await expect(store.addLogBytes(task.taskId, -1, 0)).rejects.toThrow(/storedBytes/);
    });
  });
}
