import { join } from 'node:path';
import { LogStream, type LogChunk, type LogEntry, type StreamLogsRequest, type TaskOutcome } from '@cloudai/proto';
import { openSqliteStore } from '@cloudai/store';
import { waitFor } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import { completion, place, startRunning, Status, submit, TaskStatus, useMasters, type TestMaster, type TestUser } from './testing/harness.js';

// Issue 3 (logs) against a real Master over SQLite and real gRPC: a fake
// worker appends batches through ClusterService.AppendLogs, and readers use
// TaskService.StreamLogs the way `cloudai monitor` does.

const { master, registeredWorker } = useMasters();

/** A master with one worker and one RUNNING task, ready to receive logs. */
async function runningTask(env: Record<string, string> = {}, user?: TestUser) {
  const m = await master(env);
  const w = await registeredWorker(m);
  const task = await submit(m, {}, user);
  const assignmentId = await startRunning(m, w, task.taskId);
  return { m, w, taskId: task.taskId, assignmentId };
}

const STDOUT = LogStream.LOG_STREAM_STDOUT;
const STDERR = LogStream.LOG_STREAM_STDERR;

function chunk(seq: number, data: string | Buffer, stream = STDOUT, ts: Date = new Date()): LogChunk {
  return { seq, stream, ts, data: typeof data === 'string' ? Buffer.from(data) : data, marker: false };
}

function append(m: TestMaster, taskId: string, assignmentId: string, chunks: LogChunk[], droppedBytes = 0, followsSeq?: number) {
  return m.cluster.appendLogs({ taskId, assignmentId, chunks, droppedBytes, followsSeq });
}

function complete(m: TestMaster, taskId: string, assignmentId: string, status = TaskStatus.TASK_STATUS_SUCCEEDED, exitCode = 0) {
  return m.cluster.completeTask(completion(taskId, assignmentId, { status, exitCode }));
}

interface Read {
  entries: LogEntry[];
  outcome: TaskOutcome | undefined;
  /** every entry's data, in order */
  data: Buffer;
}

function request(taskId: string, req: Partial<StreamLogsRequest> = {}): StreamLogsRequest {
  return { taskId, afterPosition: 0, follow: false, streams: [], tailLines: 0, since: undefined, ...req };
}

/** Reads one StreamLogs call to its end. */
async function read(m: TestMaster, taskId: string, req: Partial<StreamLogsRequest> = {}, user?: TestUser): Promise<Read> {
  const entries: LogEntry[] = [];
  let outcome: TaskOutcome | undefined;
  let afterOutcome = 0;
  for await (const res of m.tasks.streamLogs(request(taskId, req), user ? m.as(user) : {})) {
    if (outcome) afterOutcome++;
    if (res.entry) entries.push(res.entry);
    if (res.outcome) outcome = res.outcome;
  }
  // The outcome is the last message of a stream.
  expect(afterOutcome).toBe(0);
  return { entries, outcome, data: Buffer.concat(entries.map((e) => e.chunk!.data)) };
}

const text = (r: Read) => r.data.toString('utf8');
const positionOf = (attempt: number, seq: number) => attempt * 2 ** 32 + seq + 1;

describe('AppendLogs then StreamLogs', () => {
  it('returns the appended chunks byte-exact, in order, with their positions, streams and times', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const ts0 = new Date('2024-05-01T10:00:00.000Z');
    const ts1 = new Date('2024-05-01T10:00:01.000Z');
    const binary = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0x28]);
    const res = await append(m, taskId, assignmentId, [chunk(0, 'hello\n', STDOUT, ts0), chunk(1, 'oops\n', STDERR, ts1)]);
    expect(res).toEqual({ storedThroughSeq: 1, capped: false, ordersBatches: true });
    expect(await append(m, taskId, assignmentId, [chunk(2, binary, STDOUT, ts1), chunk(3, '\r50%\r100%\n', STDOUT, ts1)])).toEqual({
      storedThroughSeq: 3,
      capped: false,
      ordersBatches: true,
    });

    const r = await read(m, taskId);
    expect(r.entries.map((e) => e.position)).toEqual([0, 1, 2, 3].map((s) => positionOf(1, s)));
    expect(r.entries.map((e) => ({ attempt: e.attempt, marker: e.marker, seq: e.chunk!.seq, stream: e.chunk!.stream }))).toEqual([
      { attempt: 1, marker: false, seq: 0, stream: STDOUT },
      { attempt: 1, marker: false, seq: 1, stream: STDERR },
      { attempt: 1, marker: false, seq: 2, stream: STDOUT },
      { attempt: 1, marker: false, seq: 3, stream: STDOUT },
    ]);
    expect(r.entries.map((e) => e.chunk!.ts)).toEqual([ts0, ts1, ts1, ts1]);
    expect(r.data.equals(Buffer.concat([Buffer.from('hello\noops\n'), binary, Buffer.from('\r50%\r100%\n')]))).toBe(true);
    // Without follow, a running task's log ends with an outcome that says it is still running.
    expect(r.outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING, logBytes: r.data.byteLength, droppedBytes: 0, purged: false });
  });

  it('reads a log of full 256 KiB chunks about 1 MiB at a time: what a reader holds while it sends', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const full = (seq: number) => chunk(seq, Buffer.alloc(256 * 1024, seq));
    for (let seq = 0; seq < 12; seq += 3) await append(m, taskId, assignmentId, [full(seq), full(seq + 1), full(seq + 2)]);
    await complete(m, taskId, assignmentId);
    // The store behind the master, watched for the pages StreamLogs asks of it.
    const store = (m.master as unknown as { store: { readLogChunks(taskId: string, query: { limit: number }): Promise<unknown[]> } }).store;
    const readLogChunks = store.readLogChunks.bind(store);
    const limits: number[] = [];
    store.readLogChunks = (id, query) => {
      limits.push(query.limit);
      return readLogChunks(id, query);
    };
    try {
      const got = await read(m, taskId);
      expect(got.entries).toHaveLength(12);
      expect(got.data.equals(Buffer.concat(Array.from({ length: 12 }, (_, i) => Buffer.alloc(256 * 1024, i))))).toBe(true);
    } finally {
      store.readLogChunks = readLogChunks;
    }
    expect(limits.length).toBeGreaterThan(0);
    expect(Math.max(...limits)).toBeLessThanOrEqual(4);
  });

  it('stores a resent batch once: each chunk is read once and log_bytes does not grow', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const batch = [chunk(0, 'a\n'), chunk(1, 'b\n')];
    await append(m, taskId, assignmentId, batch);
    expect(await append(m, taskId, assignmentId, batch)).toEqual({ storedThroughSeq: 1, capped: false, ordersBatches: true });
    // A batch overlapping the stored one adds only what is new.
    await append(m, taskId, assignmentId, [chunk(1, 'b\n'), chunk(2, 'c\n')]);
    const r = await read(m, taskId);
    expect(r.entries.map((e) => e.chunk!.seq)).toEqual([0, 1, 2]);
    expect(text(r)).toBe('a\nb\nc\n');
    expect(r.outcome).toMatchObject({ logBytes: 6, droppedBytes: 0 });
  });

  it('stores batches in seq order when a later one arrives first (a worker keeps several in flight)', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const later = append(m, taskId, assignmentId, [chunk(2, 'c\n'), chunk(3, 'd\n')]);
    // The later batch waits for the one before it: a follower must not read 2 and 3, then resume past 0 and 1.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await read(m, taskId)).entries).toEqual([]);
    await append(m, taskId, assignmentId, [chunk(0, 'a\n'), chunk(1, 'b\n')]);
    await later;
    const r = await read(m, taskId);
    expect(r.entries.map((e) => e.chunk!.seq)).toEqual([0, 1, 2, 3]);
    expect(text(r)).toBe('a\nb\nc\nd\n');
    expect(r.outcome).toMatchObject({ logBytes: 8, droppedBytes: 0 });
  });

  it('stores a batch after a gap that is never filled (a batch the worker gave up on), after a wait', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'a\n')]);
    await append(m, taskId, assignmentId, [chunk(5, 'f\n')]);
    expect(text(await read(m, taskId))).toBe('a\nf\n');
  });

  it('holds a batch that names the one it follows until that one is stored', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'a\n')]);
    const later = append(m, taskId, assignmentId, [chunk(3, 'd\n')], 0, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(text(await read(m, taskId))).toBe('a\n');
    await append(m, taskId, assignmentId, [chunk(1, 'b\n'), chunk(2, 'c\n')], 0, 0);
    await later;
    expect(text(await read(m, taskId))).toBe('a\nb\nc\nd\n');
  });

  // Storing it past the gap would lose the one it follows, should that be resent: its seqs would look stored.
  it('refuses with ABORTED, storing nothing, a batch whose named predecessor does not arrive within the wait', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'a\n')]);
    await expect(append(m, taskId, assignmentId, [chunk(3, 'd\n')], 0, 2)).rejects.toMatchObject({
      code: Status.ABORTED,
      details: expect.stringContaining('seq 2'),
    });
    // The one it follows comes late (a resend), then this one again: nothing lost, in order.
    await append(m, taskId, assignmentId, [chunk(1, 'b\n'), chunk(2, 'c\n')], 0, 0);
    await append(m, taskId, assignmentId, [chunk(3, 'd\n')], 0, 2);
    const r = await read(m, taskId);
    expect(text(r)).toBe('a\nb\nc\nd\n');
    expect(r.outcome).toMatchObject({ logBytes: 8 });
  });

  it('refuses follows_seq at or past the batch\'s first seq with INVALID_ARGUMENT naming it', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await expect(append(m, taskId, assignmentId, [chunk(3, 'd\n')], 0, 3)).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('follows_seq'),
    });
  });

  it('refuses a batch from a stale assignment with FAILED_PRECONDITION, and keeps each attempt in its own positions', async () => {
    const { m, w, taskId, assignmentId: first } = await runningTask();
    await append(m, taskId, first, [chunk(0, 'attempt one\n')]);
    // The worker comes back without the task: it is queued again and placed anew.
    await w.register(m);
    const second = (await place(m, taskId, 'w1')).assignmentId;
    expect(second).not.toBe(first);
    await m.cluster.reportTaskStatus({ taskId, assignmentId: second, status: TaskStatus.TASK_STATUS_RUNNING, reason: '', containerId: 'c2' });

    await expect(append(m, taskId, first, [chunk(1, 'late line from the old attempt\n')])).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining(first),
    });
    await append(m, taskId, second, [chunk(0, 'attempt two\n')]);

    const r = await read(m, taskId);
    expect(text(r)).toBe('attempt one\nattempt two\n');
    expect(r.entries.map((e) => [e.attempt, e.position])).toEqual([
      [1, positionOf(1, 0)],
      [2, positionOf(2, 0)],
    ]);
  });

  // What lets an assignment that never reached its worker give its attempt
  // back: no log chunk of it can exist (a worker ships logs after RUNNING).
  it('refuses logs of a task still SCHEDULED with FAILED_PRECONDITION, storing nothing', async () => {
    const m = await master();
    await registeredWorker(m);
    const task = await submit(m);
    const { assignmentId } = await place(m, task.taskId, 'w1');
    await expect(append(m, task.taskId, assignmentId, [chunk(0, 'too early\n')])).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining('SCHEDULED'),
    });
    const r = await read(m, task.taskId);
    expect(r.entries).toEqual([]);
    expect(r.outcome).toMatchObject({ logBytes: 0 });
  });

  it('refuses logs for an unknown task with NOT_FOUND', async () => {
    const { m, assignmentId } = await runningTask();
    const unknown = '0190a000-0000-7000-8000-000000000000';
    await expect(append(m, unknown, assignmentId, [chunk(0, 'x')])).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });

  it('refuses invalid chunks with INVALID_ARGUMENT naming the field, and stores nothing of the batch', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const cases: [LogChunk[], string][] = [
      [[chunk(1, 'a'), chunk(0, 'b')], 'chunks[1].seq'],
      [[chunk(0, 'a'), chunk(0, 'b')], 'chunks[1].seq'],
      [[chunk(0, 'a', LogStream.LOG_STREAM_UNSPECIFIED)], 'chunks[0].stream'],
      [[chunk(0, 'a'), chunk(1, Buffer.alloc(256 * 1024 + 1, 0x61))], 'chunks[1].data'],
    ];
    for (const [chunks, field] of cases) {
      await expect(append(m, taskId, assignmentId, chunks), field).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
        details: expect.stringContaining(field),
      });
    }
    // Exactly 256 KiB is allowed.
    await append(m, taskId, assignmentId, [chunk(5, Buffer.alloc(256 * 1024, 0x62))]);
    const r = await read(m, taskId);
    expect(r.entries.map((e) => e.chunk!.seq)).toEqual([5]);
    expect(r.outcome!.logBytes).toBe(256 * 1024);
  });
});

describe('following a running task', () => {
  it('gives each of several followers of one log all of it, once, in order, while batches keep coming', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    const follow = async () => {
      const seqs: number[] = [];
      for await (const res of m.tasks.streamLogs(request(taskId, { follow: true }), { deadline: undefined })) {
        if (res.entry) seqs.push(res.entry.chunk!.seq);
      }
      return seqs;
    };
    const followers = Array.from({ length: 5 }, follow);
    // Full pages and pages that reach the log's end, read by several followers at once.
    for (let b = 0; b < 40; b++) {
      await append(m, taskId, assignmentId, Array.from({ length: 5 }, (_, i) => chunk(b * 5 + i, Buffer.alloc(20_000, b))));
    }
    await complete(m, taskId, assignmentId);
    const everything = Array.from({ length: 200 }, (_, i) => i);
    for (const seqs of await Promise.all(followers)) expect(seqs).toEqual(everything);
  });

  it('sends chunks appended after the client connected, then the outcome when the task completes', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'before\n')]);

    const seen: LogEntry[] = [];
    let outcome: TaskOutcome | undefined;
    const follower = (async () => {
      for await (const res of m.tasks.streamLogs(request(taskId, { follow: true }), { deadline: undefined })) {
        if (res.entry) seen.push(res.entry);
        if (res.outcome) outcome = res.outcome;
      }
    })();
    await waitFor(() => (seen.length === 1 ? true : undefined), { what: 'the stored chunk' });

    await append(m, taskId, assignmentId, [chunk(1, 'during 1\n'), chunk(2, 'during 2\n', STDERR)]);
    await waitFor(() => (seen.length === 3 ? true : undefined), { what: 'the chunks appended while following' });
    expect(outcome).toBeUndefined();
    await append(m, taskId, assignmentId, [chunk(3, 'last\n')]);
    await complete(m, taskId, assignmentId, TaskStatus.TASK_STATUS_FAILED, 7);
    await follower;

    expect(Buffer.concat(seen.map((e) => e.chunk!.data)).toString()).toBe('before\nduring 1\nduring 2\nlast\n');
    expect(seen.map((e) => e.position)).toEqual([0, 1, 2, 3].map((s) => positionOf(1, s)));
    expect(outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_FAILED, exitCode: 7, logBytes: 30, droppedBytes: 0, purged: false });
  });

  it('a follower ends with the outcome of a task cancelled while it runs', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'working\n')]);
    const following = read(m, taskId, { follow: true });
    await m.tasks.cancelTask({ taskId, reason: 'enough' });
    const r = await following;
    expect(text(r)).toBe('working\n');
    expect(r.outcome!.status).toBe(TaskStatus.TASK_STATUS_CANCELLED);
  });

  it('a follower resuming after a master restart, from its last position, gets the rest with no gap and no duplicate', async () => {
    const env = { SHUTDOWN_GRACE_MS: '300' };
    const { m, taskId, assignmentId } = await runningTask(env);
    await append(m, taskId, assignmentId, [chunk(0, 'one\n'), chunk(1, 'two\n')]);
    const seen: LogEntry[] = [];
    const follower = (async () => {
      for await (const res of m.tasks.streamLogs(request(taskId, { follow: true }), { deadline: undefined })) {
        if (res.entry) seen.push(res.entry);
      }
    })().then(
      () => 'ended',
      (err: unknown) => err,
    );
    await waitFor(() => (seen.length === 2 ? true : undefined), { what: 'the first two chunks' });
    await m.stop();
    // The stream ends (with an error or not) when its master goes away.
    await follower;

    const m2 = await master(env, m.dataDir);
    await append(m2, taskId, assignmentId, [chunk(1, 'two\n'), chunk(2, 'three\n')]);
    await complete(m2, taskId, assignmentId);
    const rest = await read(m2, taskId, { follow: true, afterPosition: seen.at(-1)!.position });
    const all = [...seen, ...rest.entries];
    expect(Buffer.concat(all.map((e) => e.chunk!.data)).toString()).toBe('one\ntwo\nthree\n');
    expect(all.map((e) => e.chunk!.seq)).toEqual([0, 1, 2]);
    expect(rest.outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, logBytes: 14 });
  });
});

describe('reading a finished task', () => {
  async function finished() {
    const { m, taskId, assignmentId } = await runningTask();
    const t0 = new Date(Date.now() - 60_000);
    const t1 = new Date(Date.now() - 30_000);
    const t2 = new Date();
    await append(m, taskId, assignmentId, [
      chunk(0, 'out 1\n', STDOUT, t0),
      chunk(1, 'err 1\n', STDERR, t0),
      chunk(2, 'out 2\n', STDOUT, t1),
      chunk(3, 'err 2\n', STDERR, t2),
      chunk(4, 'out 3\n', STDOUT, t2),
    ]);
    await complete(m, taskId, assignmentId);
    return { m, taskId, t0, t1, t2 };
  }

  it('answers at once with every entry and the outcome, with or without follow', async () => {
    const { m, taskId } = await finished();
    for (const follow of [false, true]) {
      const r = await read(m, taskId, { follow });
      expect(text(r)).toBe('out 1\nerr 1\nout 2\nerr 2\nout 3\n');
      expect(r.outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, logBytes: 30, droppedBytes: 0, purged: false });
    }
  });

  it('resumes after a position with exactly the remaining entries', async () => {
    const { m, taskId } = await finished();
    const all = await read(m, taskId);
    for (let i = 0; i < all.entries.length; i++) {
      const rest = await read(m, taskId, { afterPosition: all.entries[i]!.position });
      expect(rest.entries).toEqual(all.entries.slice(i + 1));
      expect(rest.outcome).toEqual(all.outcome);
    }
  });

  it('filters by stream', async () => {
    const { m, taskId } = await finished();
    expect(text(await read(m, taskId, { streams: [STDOUT] }))).toBe('out 1\nout 2\nout 3\n');
    expect(text(await read(m, taskId, { streams: [STDERR] }))).toBe('err 1\nerr 2\n');
    expect(text(await read(m, taskId, { streams: [STDOUT, STDERR] }))).toBe('out 1\nerr 1\nout 2\nerr 2\nout 3\n');
    await expect(read(m, taskId, { streams: [LogStream.LOG_STREAM_UNSPECIFIED] })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('streams[0]'),
    });
  });

  it('skips chunks written before `since`', async () => {
    const { m, taskId, t1, t2 } = await finished();
    expect(text(await read(m, taskId, { since: t1 }))).toBe('out 2\nerr 2\nout 3\n');
    expect(text(await read(m, taskId, { since: new Date(t2.getTime() + 1) }))).toBe('');
    expect(text(await read(m, taskId, { since: t1, streams: [STDERR] }))).toBe('err 2\n');
  });

  it('tail_lines combines with streams', async () => {
    const { m, taskId } = await finished();
    expect(text(await read(m, taskId, { tailLines: 2 }))).toBe('err 2\nout 3\n');
    expect(text(await read(m, taskId, { tailLines: 2, streams: [STDOUT] }))).toBe('out 2\nout 3\n');
  });
});

describe('tail_lines', () => {
  async function logOf(chunks: string[]) {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, chunks.map((c, i) => chunk(i, c)));
    await complete(m, taskId, assignmentId);
    return (tailLines: number) => read(m, taskId, { tailLines }).then(text);
  }

  it('gives the last N lines of a log ending in a newline', async () => {
    const tail = await logOf(['l1\nl2\nl3\n']);
    expect(await tail(2)).toBe('l2\nl3\n');
    expect(await tail(1)).toBe('l3\n');
    expect(await tail(3)).toBe('l1\nl2\nl3\n');
  });

  it('counts an unterminated last line as a line', async () => {
    const tail = await logOf(['a\nb\nc']);
    expect(await tail(2)).toBe('b\nc');
    expect(await tail(1)).toBe('c');
  });

  it('gives the whole log when the tail is bigger than the log', async () => {
    const tail = await logOf(['l1\nl2\n']);
    expect(await tail(5)).toBe('l1\nl2\n');
    expect(await tail(2)).toBe('l1\nl2\n');
  });

  it('finds line starts across chunk boundaries', async () => {
    const tail = await logOf(['l1\nl', '2\nl3', '\n', 'l4\n']);
    expect(await tail(2)).toBe('l3\nl4\n');
    expect(await tail(3)).toBe('l2\nl3\nl4\n');
    expect(await tail(10)).toBe('l1\nl2\nl3\nl4\n');
  });

  it('works when every chunk is one whole line, as a worker usually ships them', async () => {
    const tail = await logOf(['l1\n', 'l2\n', 'l3\n']);
    expect(await tail(2)).toBe('l2\nl3\n');
    expect(await tail(1)).toBe('l3\n');
  });

  it('refuses an absurd tail with INVALID_ARGUMENT', async () => {
    const { m, taskId } = await runningTask();
    await expect(read(m, taskId, { tailLines: 2 ** 32 - 1 })).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining('tail_lines'),
    });
  });
});

describe('the per-task cap', () => {
  const capped = { LOG_MAX_BYTES_PER_TASK: '2048' };

  it('stores up to the cap, then one marker on stderr; the outcome counts the dropped bytes', async () => {
    const { m, taskId, assignmentId } = await runningTask(capped);
    const data = Buffer.alloc(3000);
    for (let i = 0; i < data.length; i++) data[i] = 0x61 + (i % 26);
    const res = await append(m, taskId, assignmentId, [chunk(0, data.subarray(0, 1000)), chunk(1, data.subarray(1000))]);
    expect(res.capped).toBe(true);
    // More output after the cap is dropped too, and a resent batch adds no second marker.
    await append(m, taskId, assignmentId, [chunk(2, 'after the cap\n')]);
    await append(m, taskId, assignmentId, [chunk(2, 'after the cap\n')]);
    await complete(m, taskId, assignmentId);

    const r = await read(m, taskId);
    const plain = r.entries.filter((e) => !e.marker);
    const markers = r.entries.filter((e) => e.marker);
    expect(Buffer.concat(plain.map((e) => e.chunk!.data)).equals(data.subarray(0, 2048))).toBe(true);
    expect(markers).toHaveLength(1);
    expect(r.entries.at(-1)).toBe(markers[0]);
    expect(markers[0]!.chunk!.stream).toBe(STDERR);
    expect(markers[0]!.chunk!.data.toString()).toMatch(/truncated/);
    expect(markers[0]!.position).toBeGreaterThan(plain.at(-1)!.position);
    expect(r.outcome!.logBytes).toBe(2048);
    expect(r.outcome!.droppedBytes).toBeGreaterThanOrEqual(952);
  });

  it('a resent batch below the cap is not taken for output over the cap', async () => {
    const { m, taskId, assignmentId } = await runningTask(capped);
    const batch = [chunk(0, Buffer.alloc(1500, 0x78))];
    await append(m, taskId, assignmentId, batch);
    // The worker did not get the answer and sends the same batch again.
    const resent = await append(m, taskId, assignmentId, batch);
    const r = await read(m, taskId);
    expect(r.entries.filter((e) => e.marker).map((e) => e.chunk!.data.toString())).toEqual([]);
    expect(r.outcome).toMatchObject({ logBytes: 1500, droppedBytes: 0 });
    expect(resent).toEqual({ storedThroughSeq: 0, capped: false, ordersBatches: true });
  });

  // A worker keeps two batches in flight: the second was sent before it heard of the cap.
  it('counts a batch that comes after the cap\'s marker as dropped, with the drops it reports', async () => {
    const { m, taskId, assignmentId } = await runningTask(capped);
    expect((await append(m, taskId, assignmentId, [chunk(0, Buffer.alloc(3000, 0x61))])).capped).toBe(true);
    await append(m, taskId, assignmentId, [chunk(1, Buffer.alloc(500, 0x62))], 100, 0);
    await complete(m, taskId, assignmentId);
    const r = await read(m, taskId);
    expect(r.entries.filter((e) => e.marker)).toHaveLength(1);
    expect(r.outcome).toMatchObject({ logBytes: 2048, droppedBytes: 952 + 500 + 100 });
  });

  it('counts the bytes the worker reports it dropped', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await append(m, taskId, assignmentId, [chunk(0, 'kept\n')], 12_345);
    await append(m, taskId, assignmentId, [], 5);
    await complete(m, taskId, assignmentId);
    const r = await read(m, taskId);
    expect(text(r)).toBe('kept\n');
    expect(r.outcome).toMatchObject({ logBytes: 5, droppedBytes: 12_350 });
  });
});

describe('RESULTS', () => {
  it('holds the task, worker, status, exit code, completion time and the stored log size', async () => {
    const { m, taskId, assignmentId } = await runningTask({ LOG_MAX_BYTES_PER_TASK: '2048' });
    await append(m, taskId, assignmentId, [chunk(0, 'x'.repeat(100)), chunk(1, 'y'.repeat(50), STDERR)]);
    await append(m, taskId, assignmentId, [chunk(2, 'z'.repeat(4000))]);
    const before = Date.now();
    await complete(m, taskId, assignmentId, TaskStatus.TASK_STATUS_FAILED, 2);
    const after = Date.now();
    const streamed = await read(m, taskId);
    const storedData = streamed.entries.filter((e) => !e.marker).reduce((n, e) => n + e.chunk!.data.byteLength, 0);
    expect(storedData).toBe(2048);
    await m.stop();

    const store = await openSqliteStore(join(m.dataDir.path, 'master', 'cloudai.db'));
    try {
      const result = await store.getResult(taskId);
      expect(result).toMatchObject({ taskId, workerId: 'w1', status: 'FAILED', exitCode: 2, logBytes: storedData });
      expect(result!.completedAt.getTime()).toBeGreaterThanOrEqual(before - 1);
      expect(result!.completedAt.getTime()).toBeLessThanOrEqual(after + 1);
      // The chunks themselves are in LOG_CHUNKS and survive the master.
      const chunks = await store.readLogChunks(taskId, { limit: 100 });
      expect(chunks.filter((c) => !c.marker).map((c) => c.seq)).toEqual([0, 1, 2]);
    } finally {
      await store.close();
    }
  });
});

describe('retention', () => {
  it('removes the log of a task that ended longer ago than LOG_RETENTION_DAYS, and says so', async () => {
    // 0.00001 days is under a second.
    const { m, w, taskId, assignmentId } = await runningTask({ LOG_RETENTION_DAYS: '0.00001', RETENTION_SWEEP_MS: '200' });
    const other = await submit(m);
    const otherAssignment = await startRunning(m, w, other.taskId);
    await append(m, taskId, assignmentId, [chunk(0, 'soon gone\n')]);
    await append(m, other.taskId, otherAssignment, [chunk(0, 'still running\n')]);
    await complete(m, taskId, assignmentId);

    const purged = await waitFor(
      async () => {
        const r = await read(m, taskId);
        return r.outcome?.purged ? r : undefined;
      },
      { what: 'the finished task to be purged' },
    );
    expect(purged.entries).toEqual([]);
    expect(purged.outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0, purged: true });
    // Following a purged task answers at once too.
    expect((await read(m, taskId, { follow: true })).outcome).toMatchObject({ purged: true });

    // A running task's log is kept however old its chunks are.
    const running = await read(m, other.taskId);
    expect(text(running)).toBe('still running\n');
    expect(running.outcome).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING, purged: false });
  });

  it('keeps logs when LOG_RETENTION_DAYS is 0 (the default)', async () => {
    const { m, taskId, assignmentId } = await runningTask({ RETENTION_SWEEP_MS: '200' });
    await append(m, taskId, assignmentId, [chunk(0, 'kept\n')]);
    await complete(m, taskId, assignmentId);
    await new Promise((r) => setTimeout(r, 600));
    const r = await read(m, taskId);
    expect(text(r)).toBe('kept\n');
    expect(r.outcome!.purged).toBe(false);
  });
});

describe('authorization', () => {
  it("another user's task is NOT_FOUND, whether it exists or not", async () => {
    const { m, taskId, assignmentId } = await runningTask({}, 'alice');
    await append(m, taskId, assignmentId, [chunk(0, 'private\n')]);
    expect(text(await read(m, taskId, {}, 'alice'))).toBe('private\n');
    await expect(read(m, taskId, {}, 'bob')).rejects.toMatchObject({ code: Status.NOT_FOUND });
    await expect(read(m, '0190a000-0000-7000-8000-000000000000', {}, 'bob')).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });
});
