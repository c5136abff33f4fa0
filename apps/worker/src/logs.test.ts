import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogStream } from '@cloudai/proto';
import { tempDir, waitFor } from '@cloudai/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_LOG_CHUNK_BYTES as MAX_CHUNK_BYTES } from '@cloudai/domain';
import { MAX_BATCH_BYTES } from './log-shipper.js';
import { SUCCEEDED, UPLOADING, assignmentFor } from './testing/fake-master.js';
import { uniqueWorkerId, useTestWorker, type TestWorker } from './testing/harness.js';

const fixture = useTestWorker();
const { master } = fixture;

afterEach(() => {
  master.failLogs = 0;
  master.failLogsAtSeq = undefined;
  master.ordersBatches = true;
  master.holdLogs = undefined;
  master.logsCapped = false;
  master.maxConcurrentLogCalls = 0;
});

/** Runs `script` under sh on `w` and waits for its completion report. */
async function run(script: string, w: TestWorker = fixture.worker) {
  const req = assignmentFor(w.workerId, { command: ['sh', '-c', script] });
  const { taskId, assignmentId } = req.assignment!;
  await w.client.assignTask(req);
  const done = await waitFor(() => master.completions(taskId)[0], { what: `completion of ${taskId}`, timeoutMs: 45_000 });
  return { taskId, assignmentId, done };
}

function expectContiguousSeqs(taskId: string) {
  const seqs = master.storedChunks(taskId).map((c) => c.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i));
}

describe('log shipping', () => {
  it('ships output byte for byte: no trailing newline, \\r kept, nothing on stderr', async () => {
    const { taskId, done } = await run("printf 'a\\nb\\rc'");
    expect(done.status).toBe(SUCCEEDED);
    expect(master.output(taskId, 'stdout')).toEqual(Buffer.from('a\nb\rc'));
    expect(master.output(taskId, 'stderr')).toEqual(Buffer.alloc(0));
    expectContiguousSeqs(taskId);
    for (const c of master.storedChunks(taskId)) expect(c.ts).toBeInstanceOf(Date);

    // The last batch is in before UPLOADING and the result.
    const lastLogs = master.events.findLastIndex((e) => e.kind === 'logs' && e.request.taskId === taskId);
    const uploading = master.indexOf((e) => e.kind === 'status' && e.request.taskId === taskId && e.request.status === UPLOADING);
    const completed = master.indexOf((e) => e.kind === 'complete' && e.request.taskId === taskId);
    expect(lastLogs).toBeGreaterThanOrEqual(0);
    expect(lastLogs).toBeLessThan(uploading);
    expect(uploading).toBeLessThan(completed);
  });

  it('keeps stdout and stderr apart, each in order', async () => {
    const { taskId } = await run('for i in $(seq 1 200); do echo out$i; echo err$i >&2; done');
    const lines = (n: string) => Array.from({ length: 200 }, (_, i) => `${n}${i + 1}\n`).join('');
    expect(master.output(taskId, 'stdout').toString()).toBe(lines('out'));
    expect(master.output(taskId, 'stderr').toString()).toBe(lines('err'));
    expectContiguousSeqs(taskId);
    for (const c of master.storedChunks(taskId)) {
      expect([LogStream.LOG_STREAM_STDOUT, LogStream.LOG_STREAM_STDERR]).toContain(c.stream);
    }
  });

  it('reassembles a 1 MiB line without a newline, shipped in chunks of at most 256 KiB', async () => {
    const { taskId } = await run("head -c 1048576 /dev/zero | tr '\\0' x");
    const stdout = master.output(taskId, 'stdout');
    expect(stdout.length).toBe(1048576);
    // Buffer.equals: toEqual walks a megabyte index by index.
    expect(stdout.equals(Buffer.alloc(1048576, 'x'))).toBe(true);
    const chunks = master.storedChunks(taskId);
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    for (const c of chunks) expect(c.data.length).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    for (const call of master.logCalls(taskId)) {
      expect(call.request.chunks.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expectContiguousSeqs(taskId);
  });

  it('passes binary bytes through unchanged', async () => {
    const { taskId } = await run("printf '\\000\\001\\377'; printf '\\377\\000' >&2");
    expect(master.output(taskId, 'stdout')).toEqual(Buffer.from([0x00, 0x01, 0xff]));
    expect(master.output(taskId, 'stderr')).toEqual(Buffer.from([0xff, 0x00]));
  });

  it('resends a batch the master could not take, with the same seqs', async () => {
    master.failLogs = 1;
    const { taskId, done } = await run('echo one; echo two >&2');
    expect(done.status).toBe(SUCCEEDED);
    const calls = master.logCalls(taskId);
    expect(calls[0]?.refused).toBe(true);
    expect(calls[1]?.refused).toBe(false);
    const seqsOf = (i: number) => calls[i]!.request.chunks.map((c) => c.seq);
    expect(seqsOf(0).length).toBeGreaterThan(0);
    expect(seqsOf(1)).toEqual(seqsOf(0));
    expect(calls[1]!.request.chunks).toEqual(calls[0]!.request.chunks);
    expect(master.output(taskId, 'stdout').toString()).toBe('one\n');
    expect(master.output(taskId, 'stderr').toString()).toBe('two\n');
    expectContiguousSeqs(taskId);
  });

  it('spools what the master cannot take yet, without stalling the container, and ships every byte', async () => {
    // 64 KiB in memory: all but the first bit of 4 MiB waits on disk.
    const w = await fixture.extraWorker({ WORKER_LOG_BUFFER_BYTES: '65536' });
    // A master that takes no logs at all until the container has exited.
    let release!: () => void;
    master.holdLogs = new Promise((r) => (release = r));
    const total = 4 * 1024 * 1024;
    const req = assignmentFor(w.workerId, { command: ['sh', '-c', `head -c ${total} /dev/urandom | tee /output/sent; echo done >&2`] });
    const { taskId, assignmentId } = req.assignment!;
    await w.client.assignTask(req);
    // FINISHING: the container ran to its end while every byte of its 4 MiB
    // was still waiting on the master, so its output was never throttled.
    await waitFor(() => (w.app.runner.get(assignmentId)?.state === 'FINISHING' ? true : undefined), {
      what: 'container to exit while logs are held',
      timeoutMs: 30_000,
    });
    expect(master.completions(taskId)).toHaveLength(0);
    const sent = await readFile(join(w.app.outputRoot, `${taskId}-${assignmentId}`, 'sent'));
    const spool = join(w.app.env.CLOUDAI_DATA_DIR, 'worker', w.workerId, 'log-spool');
    expect((await stat(spool)).mode & 0o777).toBe(0o700);
    const [dir] = await readdir(spool);
    expect(dir).toBe(`${taskId}+${assignmentId}`);
    for (const f of await readdir(join(spool, dir!))) expect((await stat(join(spool, dir!, f))).mode & 0o777).toBe(0o600);
    release();
    master.holdLogs = undefined;

    const done = await waitFor(() => master.completions(taskId)[0], { what: 'completion' });
    expect(done.status).toBe(SUCCEEDED);
    expect(master.output(taskId, 'stdout').equals(sent)).toBe(true);
    expect(master.output(taskId, 'stderr').toString()).toBe('done\n');
    expect(master.droppedBytes(taskId)).toBe(0);
    expectContiguousSeqs(taskId);
    // One AppendLogs call at a time while the master had not answered any:
    // its first answer says whether it orders batches (see the next test).
    expect(master.maxConcurrentLogCalls).toBe(1);
    // Shipped and finished: the spool is gone.
    expect(await readdir(spool)).toEqual([]);
  });

  it('keeps two batches in flight, and resends the second after the first when the first fails: every byte once, in order', async () => {
    const w = await fixture.extraWorker({ WORKER_LOG_BUFFER_BYTES: '65536' });
    const req = assignmentFor(w.workerId, {
      command: ['sh', '-c', `echo first; while [ ! -e /output/go ]; do sleep 0.05; done; head -c ${4 * 1024 * 1024} /dev/urandom | tee /output/sent`],
    });
    const { taskId, assignmentId } = req.assignment!;
    await w.client.assignTask(req);
    // A first answer: the master says it orders batches.
    await waitFor(() => (master.output(taskId, 'stdout').toString() === 'first\n' ? true : undefined), { what: 'the first line' });
    const k = master.storedChunks(taskId).length;
    let release!: () => void;
    master.holdLogs = new Promise((r) => (release = r));
    master.failLogsAtSeq = k;
    const folder = join(w.app.outputRoot, `${taskId}-${assignmentId}`);
    await writeFile(join(folder, 'go'), '');
    await waitFor(() => (w.app.runner.get(assignmentId)?.state === 'FINISHING' ? true : undefined), {
      what: 'container to exit while logs are held',
      timeoutMs: 30_000,
    });
    await waitFor(() => (master.maxConcurrentLogCalls === 2 ? true : undefined), { what: 'two batches in flight' });
    const sent = await readFile(join(folder, 'sent'));
    release();
    master.holdLogs = undefined;

    const done = await waitFor(() => master.completions(taskId)[0], { what: 'completion', timeoutMs: 30_000 });
    expect(done.status).toBe(SUCCEEDED);
    expect(master.output(taskId, 'stdout').equals(Buffer.concat([Buffer.from('first\n'), sent]))).toBe(true);
    expect(master.droppedBytes(taskId)).toBe(0);
    expectContiguousSeqs(taskId);
    // The first batch held failed; the second, which named the first's last
    // seq, was refused until the first was stored, and then resent after it.
    const calls = master.logCalls(taskId);
    const callsOf = (seq: number) => calls.flatMap((c, i) => (c.request.chunks[0]?.seq === seq ? [{ ...c, i }] : []));
    const first = callsOf(k);
    expect(first.map((c) => c.refused)).toEqual([true, false]);
    const secondSeq = first[0]!.request.chunks.at(-1)!.seq + 1;
    const second = callsOf(secondSeq);
    expect(second.map((c) => c.refused)).toEqual([true, false]);
    expect(second[0]!.request.followsSeq).toBe(secondSeq - 1);
    expect(second[1]!.i).toBeGreaterThan(first[1]!.i);
  });

  it('keeps one batch in flight to a master that does not say it orders them', async () => {
    master.ordersBatches = false;
    const w = await fixture.extraWorker({ WORKER_LOG_BUFFER_BYTES: '65536' });
    let release!: () => void;
    master.holdLogs = new Promise((r) => (release = r));
    const req = assignmentFor(w.workerId, { command: ['sh', '-c', `head -c ${4 * 1024 * 1024} /dev/urandom`] });
    const { taskId, assignmentId } = req.assignment!;
    await w.client.assignTask(req);
    await waitFor(() => (w.app.runner.get(assignmentId)?.state === 'FINISHING' ? true : undefined), {
      what: 'container to exit while logs are held',
      timeoutMs: 30_000,
    });
    release();
    master.holdLogs = undefined;
    await waitFor(() => master.completions(taskId)[0], { what: 'completion', timeoutMs: 30_000 });
    expect(master.output(taskId, 'stdout').length).toBe(4 * 1024 * 1024);
    expectContiguousSeqs(taskId);
    expect(master.maxConcurrentLogCalls).toBe(1);
  });

  it('drops, counts and marks output past the spool bound, where it was lost', async () => {
    const bound = 65536;
    const w = await fixture.extraWorker({ WORKER_LOG_SPOOL_BYTES: String(bound), WORKER_LOG_BUFFER_BYTES: '16384' });
    let release!: () => void;
    master.holdLogs = new Promise((r) => (release = r));
    const total = 4 * 1024 * 1024;
    // 4 MiB the held master cannot take, then a line once the test says so.
    const req = assignmentFor(w.workerId, {
      command: ['sh', '-c', `head -c ${total} /dev/zero; touch /output/wrote; while [ ! -e /output/go ]; do sleep 0.05; done; echo tail`],
    });
    const { taskId, assignmentId } = req.assignment!;
    await w.client.assignTask(req);
    const folder = join(w.app.outputRoot, `${taskId}-${assignmentId}`);
    await waitFor(() => stat(join(folder, 'wrote')).then(() => true, () => undefined), { what: 'the burst', timeoutMs: 30_000 });
    release();
    master.holdLogs = undefined;
    // Over half of what the spool held is in (with two batches in flight,
    // the first may be small): the spool takes output again.
    await waitFor(() => (master.output(taskId, 'stdout').length > bound / 2 ? true : undefined), { what: 'the spooled output' });
    await writeFile(join(folder, 'go'), '');

    const done = await waitFor(() => master.completions(taskId)[0], { what: 'completion' });
    expect(done.status).toBe(SUCCEEDED);
    const chunks = master.storedChunks(taskId);
    const data = chunks.filter((c) => !c.marker);
    const markers = chunks.filter((c) => c.marker);
    const kept = Buffer.concat(data.filter((c) => c.data.every((b) => b === 0)).map((c) => c.data));
    const dropped = master.droppedBytes(taskId);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(bound);
    expect(kept.length + dropped).toBe(total);
    // One marker, on stderr, between the kept zeros and the line written after the gap.
    expect(markers).toHaveLength(1);
    expect(markers[0]!.stream).toBe(LogStream.LOG_STREAM_STDERR);
    expect(markers[0]!.data.toString()).toContain(`[cloudai] ${dropped} bytes of output dropped here`);
    const at = chunks.indexOf(markers[0]!);
    expect(chunks.slice(0, at).every((c) => c.data.every((b) => b === 0))).toBe(true);
    expect(Buffer.concat(chunks.slice(at + 1).map((c) => c.data)).toString()).toBe('tail\n');
    expectContiguousSeqs(taskId);
  });

  it('ships what a stopped worker left in its spool once it runs again, every byte once', async () => {
    const dir = await tempDir('cloudai-spool-restart-');
    const env = { WORKER_ID: uniqueWorkerId(), CLOUDAI_DATA_DIR: dir.path, WORKER_LOG_BUFFER_BYTES: '65536' };
    try {
      const first = await fixture.extraWorker(env);
      // A master that refuses every batch (restarting, say) while the task writes 3 MiB.
      master.failLogs = Number.MAX_SAFE_INTEGER;
      const total = 3 * 1024 * 1024;
      const req = assignmentFor(first.workerId, {
        command: ['sh', '-c', `head -c ${total} /dev/urandom | tee /output/sent; echo done >&2`],
      });
      const { taskId, assignmentId } = req.assignment!;
      await first.client.assignTask(req);
      await waitFor(() => (first.app.runner.get(assignmentId)?.state === 'FINISHING' ? true : undefined), {
        what: 'container to exit while logs are refused',
        timeoutMs: 30_000,
      });
      const sent = await readFile(join(first.app.outputRoot, `${taskId}-${assignmentId}`, 'sent'));
      // Stopped while nothing is shipped: it gives up on its reports at exit, keeping the spool.
      await first.close();
      expect(master.output(taskId, 'stdout').length).toBe(0);
      const spool = join(dir.path, 'worker', env.WORKER_ID, 'log-spool');
      expect(await readdir(spool)).toEqual([`${taskId}+${assignmentId}`]);

      master.failLogs = 0;
      const second = await fixture.extraWorker(env);
      // Registered with the assignment still running, so the master keeps it current.
      const registration = master.registrations().at(-1)!;
      expect(registration.running).toEqual([{ taskId, assignmentId }]);
      await waitFor(() => (master.output(taskId, 'stderr').toString() === 'done\n' ? true : undefined), {
        what: 'the spooled log',
        timeoutMs: 30_000,
      });
      expect(master.output(taskId, 'stdout').equals(sent)).toBe(true);
      expectContiguousSeqs(taskId);
      expect(master.droppedBytes(taskId)).toBe(0);
      // Shipped: the spool is gone and the assignment with it (the master re-queues the task).
      await waitFor(async () => ((await readdir(spool)).length === 0 ? true : undefined), { what: 'the spool to go' });
      await waitFor(() => (second.app.runner.running().length === 0 ? true : undefined), { what: 'the assignment to go' });
      expect(master.completions(taskId)).toEqual([]);
    } finally {
      await dir.remove();
    }
  });

  it('stops shipping data once the master says the log is capped, and reports what it dropped', async () => {
    master.logsCapped = true;
    // The task waits for a file the test drops into its output folder, so
    // the rest of its output certainly comes after the capped answer.
    const req = assignmentFor(fixture.worker.workerId, {
      command: ['sh', '-c', 'printf start; while [ ! -e /output/go ]; do sleep 0.05; done; head -c 10000 /dev/zero'],
    });
    const { taskId, assignmentId } = req.assignment!;
    await fixture.worker.client.assignTask(req);
    await waitFor(() => master.logCalls(taskId)[0], { what: 'first log batch' });
    await writeFile(join(fixture.worker.app.outputRoot, `${taskId}-${assignmentId}`, 'go'), '');

    const done = await waitFor(() => master.completions(taskId)[0], { what: 'completion' });
    expect(done.status).toBe(SUCCEEDED);
    expect(master.output(taskId, 'stdout').toString()).toBe('start');
    const calls = master.logCalls(taskId);
    expect(calls.slice(1).every((c) => c.request.chunks.length === 0)).toBe(true);
    expect(master.droppedBytes(taskId)).toBe(10000);
  });
});
