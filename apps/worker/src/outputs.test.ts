import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskProgress } from '@cloudai/proto';
import { Status } from '@cloudai/rpc';
import { tempDir, waitFor } from '@cloudai/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_DATA_CHUNK_BYTES as MAX_UPLOAD_CHUNK_BYTES } from '@cloudai/domain';
import { FAILED, SUCCEEDED, TIMED_OUT, UPLOADING, assignmentFor } from './testing/fake-master.js';
import { useTestWorker, type TestWorker } from './testing/harness.js';

const fixture = useTestWorker();
const { master } = fixture;

afterEach(() => {
  fixture.worker.storage.failUploads = 0;
  fixture.worker.storage.reject = undefined;
  fixture.worker.storage.onUpload = undefined;
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function start(script: string, w: TestWorker = fixture.worker, timeoutSeconds = 0) {
  const req = assignmentFor(w.workerId, { command: ['sh', '-c', script], timeoutSeconds });
  const { taskId, assignmentId } = req.assignment!;
  const folder = join(w.app.outputRoot, `${taskId}-${assignmentId}`);
  return { req, taskId, assignmentId, folder, assigned: w.client.assignTask(req) };
}

const completion = (taskId: string) =>
  waitFor(() => master.completions(taskId)[0], { what: `completion of ${taskId}`, timeoutMs: 45_000 });

const ended = (w: TestWorker, assignmentId: string) =>
  waitFor(() => (w.app.runner.get(assignmentId) === undefined ? true : undefined), { what: 'execution to end' });

describe('output upload', () => {
  it('uploads the files the task wrote, byte for byte, then completes with storage’s list and removes the folder', async () => {
    // Deterministic content, so the expected bytes can be computed here.
    const model = Array.from({ length: 400_000 }, (_, i) => `${i + 1}\n`).join('');
    const metrics = '{"loss":0.25}';
    const t = start(`mkdir -p /output/models && printf '${metrics}' > /output/metrics.json && seq 1 400000 > /output/models/model.bin`);
    const foldersAtUpload: boolean[] = [];
    fixture.worker.storage.onUpload = (u) => {
      if (u.grant?.taskId !== t.taskId) return;
      foldersAtUpload.push(existsSync(t.folder));
      master.mark(`upload ${t.taskId}`);
    };
    await t.assigned;
    const done = await completion(t.taskId);

    const [upload, ...more] = fixture.worker.storage.uploadsOf(t.taskId);
    expect(more).toHaveLength(0);
    // The upload carries the master's grant for this very assignment, and nothing else in its header.
    expect(Object.keys(upload!.header!)).toEqual(['grant']);
    expect(upload!.grant).toMatchObject({
      typ: 'grant',
      taskId: t.taskId,
      taskName: 'test-task',
      userId: 'tester',
      submittedAt: Date.parse('2025-01-02T03:04:05.678Z'),
      assignmentId: t.assignmentId,
    });
    const files = upload!.entries.filter((e) => e.type === 'File');
    expect(files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })).sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'metrics.json', size: metrics.length, sha256: sha256(metrics) },
      { path: 'models/model.bin', size: model.length, sha256: sha256(model) },
    ]);
    expect(upload!.entries.filter((e) => e.type !== 'File').every((e) => e.type === 'Directory')).toBe(true);

    // Chunks of exactly 1 MiB but the last: the tar is re-cut, not sent as it comes.
    expect(upload!.chunkSizes.length).toBeGreaterThan(2);
    expect(upload!.chunkSizes.slice(0, -1).every((n) => n === MAX_UPLOAD_CHUNK_BYTES)).toBe(true);
    expect(upload!.chunkSizes.at(-1)).toBeLessThanOrEqual(MAX_UPLOAD_CHUNK_BYTES);

    expect(done).toMatchObject({ status: SUCCEEDED, exitCode: 0, reason: '', outputBytes: model.length + metrics.length });
    expect([...done.outputFiles].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'metrics.json', size: metrics.length, sha256: sha256(metrics) },
      { path: 'models/model.bin', size: model.length, sha256: sha256(model) },
    ]);

    // UPLOADING is reported before storage is called, and the result only after it answered.
    const uploading = master.indexOf((e) => e.kind === 'status' && e.request.taskId === t.taskId && e.request.status === UPLOADING);
    const uploaded = master.indexOf((e) => e.kind === 'mark' && e.label === `upload ${t.taskId}`);
    const completed = master.indexOf((e) => e.kind === 'complete' && e.request.taskId === t.taskId);
    expect(uploading).toBeGreaterThanOrEqual(0);
    expect(uploading).toBeLessThan(uploaded);
    expect(uploaded).toBeLessThan(completed);

    expect(foldersAtUpload).toEqual([true]);
    await ended(fixture.worker, t.assignmentId);
    expect(existsSync(t.folder)).toBe(false);
  });

  it('tells the master the size it is about to upload, and once storage has the outputs, what it stored', async () => {
    const t = start('printf abc > /output/a && mkdir /output/d && printf 12345 > /output/d/b && ln -s a /output/link');
    await t.assigned;
    await completion(t.taskId);
    const uploading = master.statuses(t.taskId).find((s) => s.status === UPLOADING);
    // Links are not uploaded, so not counted either.
    expect(uploading).toMatchObject({ outputBytes: 8, outputFiles: 2 });
    const [stored, ...more] = master.progressOf(t.taskId);
    expect(more).toEqual([]);
    expect(stored).toMatchObject({ progress: TaskProgress.TASK_PROGRESS_OUTPUTS_STORED, bytes: 8, files: 2 });
    const reported = master.indexOf((e) => e.kind === 'progress' && e.request.taskId === t.taskId);
    const completed = master.indexOf((e) => e.kind === 'complete' && e.request.taskId === t.taskId);
    expect(reported).toBeLessThan(completed);
  });

  it('uploads the outputs of a failed task and keeps its exit code', async () => {
    const t = start('echo partial > /output/partial.txt; exit 3');
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done).toMatchObject({ status: FAILED, exitCode: 3, reason: 'exited with code 3' });
    expect(done.outputFiles).toEqual([{ path: 'partial.txt', size: 8, sha256: sha256('partial\n') }]);
    expect(fixture.worker.storage.uploadsOf(t.taskId)).toHaveLength(1);
  });

  it('uploads the outputs of a timed-out task', async () => {
    const t = start('echo early > /output/early.txt; sleep 3600', fixture.worker, 1);
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done).toMatchObject({ status: TIMED_OUT, reason: 'timed out after 1 s' });
    expect(done.outputFiles.map((f) => f.path)).toEqual(['early.txt']);
  });

  it('uploads an empty folder as an archive with no files', async () => {
    const t = start('true');
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done).toMatchObject({ status: SUCCEEDED, outputFiles: [], outputBytes: 0 });
    const [upload] = fixture.worker.storage.uploadsOf(t.taskId);
    expect(upload!.outcome).toBe('stored');
    expect(upload!.entries.filter((e) => e.type === 'File')).toEqual([]);
  });

  it('retries while storage is unavailable, keeping the folder until storage has it', async () => {
    fixture.worker.storage.failUploads = 2;
    const t = start('echo kept > /output/kept.txt');
    const foldersAtUpload: boolean[] = [];
    fixture.worker.storage.onUpload = (u) => {
      if (u.grant?.taskId === t.taskId) foldersAtUpload.push(existsSync(join(t.folder, 'kept.txt')));
    };
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done).toMatchObject({ status: SUCCEEDED, outputFiles: [{ path: 'kept.txt', size: 5, sha256: sha256('kept\n') }] });
    expect(fixture.worker.storage.uploadsOf(t.taskId).map((u) => u.outcome)).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'stored']);
    expect(foldersAtUpload).toEqual([true, true, true]);
    await ended(fixture.worker, t.assignmentId);
    expect(existsSync(t.folder)).toBe(false);
  });

  it('fails the task with storage’s reason when storage rejects the outputs', async () => {
    fixture.worker.storage.reject = { code: Status.RESOURCE_EXHAUSTED, message: 'outputs exceed the 1 GB quota' };
    const t = start('echo big > /output/big.txt');
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done).toMatchObject({
      status: FAILED,
      exitCode: 0,
      reason: 'outputs rejected by storage: outputs exceed the 1 GB quota',
      outputFiles: [],
    });
    expect(fixture.worker.storage.uploadsOf(t.taskId).map((u) => u.outcome)).toEqual(['RESOURCE_EXHAUSTED']);
  });

  it('does not upload a cancelled task, and removes its folder', async () => {
    const t = start('echo x > /output/x.txt; sleep 3600');
    await t.assigned;
    await waitFor(() => master.statuses(t.taskId)[0], { what: 'RUNNING report' });
    await waitFor(() => (existsSync(join(t.folder, 'x.txt')) ? true : undefined), { what: 'the task to write its file' });
    await fixture.worker.client.cancelTask({ taskId: t.taskId, assignmentId: t.assignmentId, reason: 'user asked' });
    await ended(fixture.worker, t.assignmentId);
    expect(existsSync(t.folder)).toBe(false);
    expect(fixture.worker.storage.uploadsOf(t.taskId)).toHaveLength(0);
    expect(master.completions(t.taskId)).toHaveLength(0);
  });

  it('never sends a data message bigger than WORKER_UPLOAD_CHUNK_BYTES', async () => {
    const w = await fixture.extraWorker({ WORKER_UPLOAD_CHUNK_BYTES: '65536' });
    const t = start('head -c 300000 /dev/zero > /output/zeros', w);
    await t.assigned;
    const done = await completion(t.taskId);
    expect(done.outputFiles).toEqual([{ path: 'zeros', size: 300000, sha256: sha256(Buffer.alloc(300000)) }]);
    const [upload] = w.storage.uploadsOf(t.taskId);
    expect(upload!.chunkSizes.length).toBeGreaterThan(4);
    expect(upload!.chunkSizes.slice(0, -1).every((n) => n === 65536)).toBe(true);
    expect(upload!.chunkSizes.at(-1)).toBeLessThanOrEqual(65536);
  });

  it('removes output folders a previous worker process left behind', async () => {
    const root = await tempDir('cloudai-outputs-');
    try {
      await mkdir(join(root.path, 'old-task-old-assignment', 'sub'), { recursive: true });
      await writeFile(join(root.path, 'old-task-old-assignment', 'sub', 'f'), 'left over');
      const w = await fixture.extraWorker({ WORKER_OUTPUT_ROOT: root.path });
      expect(w.app.outputRoot).toBe(root.path);
      expect(existsSync(join(root.path, 'old-task-old-assignment'))).toBe(false);
    } finally {
      await root.remove();
    }
  });
});
