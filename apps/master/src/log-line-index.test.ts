import { MAX_LOG_LINE_BYTES, type LogStreamName } from '@cloudai/domain';
import { LineSplitter } from '@cloudai/domain/log-lines';
import { LogStream, type GetLogLineIndexResponse, type LogChunk } from '@cloudai/proto';
import { logStreamFromProto } from '@cloudai/rpc';
import { describe, expect, it } from 'vitest';
import { completion, startRunning, Status, submit, TaskStatus, useMasters, type TestMaster } from './testing/harness.js';

// GetLogLineIndex against a real Master over SQLite and real gRPC: the
// index must number lines exactly as reading the whole log does, and each
// checkpoint must continue that numbering when a reader starts there.

const { master, registeredWorker } = useMasters();

async function runningTask(env: Record<string, string> = {}) {
  const m = await master(env);
  const w = await registeredWorker(m);
  const task = await submit(m);
  const assignmentId = await startRunning(m, w, task.taskId);
  return { m, taskId: task.taskId, assignmentId };
}

const STDOUT = LogStream.LOG_STREAM_STDOUT;
const STDERR = LogStream.LOG_STREAM_STDERR;

/** A worker's batches: lines cut across chunks, stderr between stdout, a line longer than the limit. */
function chatty(lines: number): LogChunk[] {
  const chunks: LogChunk[] = [];
  let text = '';
  for (let i = 1; i <= lines; i++) text += i % 997 === 0 ? `${'x'.repeat(MAX_LOG_LINE_BYTES + 5)}\n` : `line ${i}\n`;
  for (let at = 0, seq = 0; at < text.length; seq++) {
    const size = 700 + ((seq * 37) % 300);
    chunks.push({ seq: seq * 2, stream: STDOUT, ts: new Date(), marker: false, data: Buffer.from(text.slice(at, at + size)) });
    chunks.push({ seq: seq * 2 + 1, stream: STDERR, ts: new Date(), marker: false, data: Buffer.from(seq % 3 === 0 ? `warn ${seq}\n` : `part ${seq} `) });
    at += size;
  }
  return chunks;
}

/** Every line of the log from `afterPosition`, numbered by a splitter started at `start`. */
async function linesFrom(m: TestMaster, taskId: string, afterPosition: number, start: LineSplitter): Promise<Map<number, string>> {
  const got = new Map<number, string>();
  const sink = (n: number, stream: LogStreamName, bytes: Buffer) => void got.set(n, `${stream}:${bytes.toString()}`);
  const stream = m.tasks.streamLogs({ taskId, afterPosition, follow: false, streams: [], tailLines: 0, since: undefined });
  for await (const res of stream) {
    const e = res.entry;
    if (!e?.chunk || e.marker) continue;
    start.push(logStreamFromProto(e.chunk.stream) ?? 'stderr', e.chunk.data, sink);
  }
  start.end(sink);
  return got;
}

function splitterAt(c: GetLogLineIndexResponse['checkpoints'][number]): LineSplitter {
  return new LineSplitter({ lines: c.lines, pending: { stdout: Buffer.from(c.pendingStdout), stderr: Buffer.from(c.pendingStderr) } });
}

async function appendAll(m: TestMaster, taskId: string, assignmentId: string, chunks: LogChunk[]) {
  for (let i = 0; i < chunks.length; i += 500) {
    await m.cluster.appendLogs({ taskId, assignmentId, chunks: chunks.slice(i, i + 500), droppedBytes: 0 });
  }
}

describe('GetLogLineIndex', () => {
  it('counts the lines a full read numbers, and every checkpoint continues that numbering', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    await appendAll(m, taskId, assignmentId, chatty(3000));
    await m.cluster.completeTask(completion(taskId, assignmentId, { status: TaskStatus.TASK_STATUS_SUCCEEDED, exitCode: 0 }));

    const all = await linesFrom(m, taskId, 0, new LineSplitter());
    const index = await m.tasks.getLogLineIndex({ taskId, everyLines: 100 });
    expect(index.complete).toBe(true);
    expect(index.totalLines).toBe(all.size);
    expect(index.totalLines).toBeGreaterThan(3000);
    expect(index.checkpoints[0]).toMatchObject({ afterPosition: 0, lines: 0 });
    expect(index.checkpoints.length).toBeGreaterThan(index.totalLines / 100 / 2);
    for (const [i, c] of index.checkpoints.entries()) {
      if (i > 0) expect(c.lines - index.checkpoints[i - 1]!.lines).toBeGreaterThanOrEqual(100);
      const rest = await linesFrom(m, taskId, c.afterPosition, splitterAt(c));
      // From a checkpoint, a reader sees the same lines under the same numbers.
      for (const [n, line] of rest) expect(line, `line ${n} from checkpoint ${i}`).toBe(all.get(n));
      expect(rest.size).toBe(all.size - c.lines);
    }
  });

  it('spaces checkpoints wider rather than answer with more than its bound', async () => {
    const { m, taskId, assignmentId } = await runningTask();
    // A chunk per line: a checkpoint could stand at each of 5,000 lines.
    const oneLineChunks = Array.from({ length: 5000 }, (_, seq): LogChunk => ({
      seq,
      stream: seq % 5 === 0 ? STDERR : STDOUT,
      ts: new Date(),
      marker: false,
      data: Buffer.from(`line ${seq}\n`),
    }));
    await appendAll(m, taskId, assignmentId, oneLineChunks);
    const index = await m.tasks.getLogLineIndex({ taskId, everyLines: 1 });
    expect(index.totalLines).toBe(5000);
    // A running task's count is not final.
    expect(index.complete).toBe(false);
    expect(index.checkpoints.length).toBeLessThanOrEqual(2000);
    expect(index.checkpoints.length).toBeGreaterThan(1000);
    const last = index.checkpoints.at(-1)!;
    const rest = await linesFrom(m, taskId, last.afterPosition, splitterAt(last));
    expect(last.lines + rest.size).toBe(index.totalLines);
  });

  it('leaves markers out, as readers do', async () => {
    const { m, taskId, assignmentId } = await runningTask({ LOG_MAX_BYTES_PER_TASK: '2048' });
    await m.cluster.appendLogs({
      taskId,
      assignmentId,
      chunks: [{ seq: 0, stream: STDOUT, ts: new Date(), marker: false, data: Buffer.from('a\nb\n'.repeat(1000)) }],
      droppedBytes: 0,
    });
    const index = await m.tasks.getLogLineIndex({ taskId, everyLines: 0 });
    // 2048 bytes of "a\nb\n" are 1024 lines; the truncation marker is not one.
    expect(index.totalLines).toBe(1024);
  });

  it('refuses an absurd spacing with INVALID_ARGUMENT naming the field', async () => {
    const { m, taskId } = await runningTask();
    const err = await m.tasks.getLogLineIndex({ taskId, everyLines: 10_000_000 }).then(
      () => undefined,
      (e: { code: Status; details: string }) => e,
    );
    expect(err?.code).toBe(Status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^every_lines/);
  });
});
