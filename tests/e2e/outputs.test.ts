import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@cloudai/store';
import {
  requireDocker,
  startApp,
  startCluster,
  tempDir,
  TEST_IMAGE,
  waitFor,
  type LocalCluster,
  type TempDir,
} from '@cloudai/testing';

// Issue 4 as a user meets it: what a container writes under /output is
// stored under <root>/<user>/<task_name>/<submitted_at>/<task_id>/, listed
// and downloaded byte for byte, through real processes and real Docker.

let cluster: LocalCluster;
let out: TempDir;
const cli = (...args: string[]) => cluster.cli(args);
const storageRoot = () => join(cluster.dataDir.path, 'storage', 'files');

beforeAll(async () => {
  await requireDocker();
  out = await tempDir('cloudai-download-');
  cluster = await startCluster({ workers: 1, workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '2' }) });
});

afterAll(async () => {
  await cluster?.stop();
  await out?.remove();
});

async function run(name: string, script: string): Promise<Record<string, unknown>> {
  const r = await cli('task', TEST_IMAGE, '--name', name, '--json', '--', 'sh', '-c', script);
  expect(r.stderr).toBe('');
  const { taskId } = JSON.parse(r.stdout) as { taskId: string };
  await cli('wait', taskId);
  return JSON.parse((await cli('status', taskId, '--json')).stdout) as Record<string, unknown>;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('task outputs', () => {
  it('stores, lists and downloads what the container wrote', async () => {
    const task = await run(
      'exp-outputs',
      'mkdir -p /output/models /output/logs; echo 0.93 > /output/metrics.json; ' +
        'head -c 5000000 /dev/urandom > /output/models/model.bin; echo done > /output/logs/training.log',
    );
    expect(task).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, outputBytes: 5000000 + 5 + 5 });
    const taskId = String(task.taskId);
    const secs = Math.floor(Date.parse(String(task.submittedAt)) / 1000);
    const dir = join(storageRoot(), 'e2e', 'exp-outputs', String(secs), taskId);
    expect((await stat(join(dir, 'models', 'model.bin'))).size).toBe(5_000_000);
    expect(await readFile(join(dir, 'metrics.json'), 'utf8')).toBe('0.93\n');

    const listed = await cli('files', taskId, '--json');
    expect(listed.code).toBe(0);
    const files = JSON.parse(listed.stdout) as { path: string; size: number; sha256: string }[];
    expect(files.map((f) => f.path).sort()).toEqual(['logs/training.log', 'metrics.json', 'models/model.bin']);
    const model = files.find((f) => f.path === 'models/model.bin')!;
    expect(model.sha256).toBe(await sha256(join(dir, 'models', 'model.bin')));

    const dl = await cli('download', taskId, '--out', out.path);
    expect(dl.code).toBe(0);
    for (const f of files) {
      expect(await sha256(join(out.path, f.path))).toBe(f.sha256);
    }
  });

  it('collects the outputs of a failed task too', async () => {
    const task = await run('fails-with-output', 'echo partial > /output/partial.txt; exit 4');
    expect(task).toMatchObject({ status: 'FAILED', exitCode: 4 });
    const files = JSON.parse((await cli('files', String(task.taskId), '--json')).stdout) as { path: string }[];
    expect(files.map((f) => f.path)).toEqual(['partial.txt']);
  });

  it('gives a task that writes nothing an empty file list, not an error', async () => {
    const task = await run('writes-nothing', 'true');
    expect(task.status).toBe('SUCCEEDED');
    const r = await cli('files', String(task.taskId), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('deletes stored files with `files rm`', async () => {
    const task = await run('to-delete', 'echo x > /output/x.txt');
    const taskId = String(task.taskId);
    const rm = await cli('files', 'rm', taskId);
    expect(rm.code).toBe(0);
    expect(JSON.parse((await cli('files', taskId, '--json')).stdout)).toEqual([]);
    const users = await readdir(join(storageRoot(), 'e2e', 'to-delete')).catch(() => []);
    const remaining = [];
    for (const s of users) remaining.push(...(await readdir(join(storageRoot(), 'e2e', 'to-delete', s))));
    expect(remaining).not.toContain(taskId);
  });

  it('stops listing outputs in `status` once storage no longer has them (removed by its retention)', async () => {
    const task = await run('expires', 'echo x > /output/x.txt');
    const taskId = String(task.taskId);
    expect(task.outputFiles).toHaveLength(1);
    // The upload's start is recorded, between the run's start and the task's end (the console's timeline shows it).
    const [started, uploading, finished] = [task.startedAt, task.uploadingAt, task.finishedAt].map((t) => Date.parse(String(t)));
    expect(uploading).toBeGreaterThanOrEqual(started!);
    expect(uploading).toBeLessThanOrEqual(finished!);
    // What storage's retention does: folder and records gone, the master not told.
    const side = await openSqliteStore(join(cluster.dataDir.path, 'storage', 'metadata.db'));
    try {
      await side.deleteFileMetadata(taskId);
    } finally {
      await side.close();
    }
    expect(JSON.parse((await cli('files', taskId, '--json')).stdout)).toEqual([]);
    const status = JSON.parse((await cli('status', taskId, '--json')).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ outputFiles: [], outputBytes: 0 });
  });

  it('stores the complete outputs once when storage is killed mid-upload and restarted', async () => {
    const r = await cli(
      'task', TEST_IMAGE, '--name', 'survives-storage-crash', '--json', '--',
      'sh', '-c', 'head -c 200000000 /dev/zero > /output/big.bin; echo ok > /output/small.txt',
    );
    const { taskId } = JSON.parse(r.stdout) as { taskId: string };
    await waitFor(
      async () => {
        const r = await cli('status', taskId, '--json');
        if (r.code !== 0) return undefined;
        return (JSON.parse(r.stdout) as { status: string }).status === 'UPLOADING' ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 20, what: 'the task to start uploading' },
    );
    const storage = cluster.apps.get('storage')!;
    storage.child.kill('SIGKILL');
    await storage.exited;
    const restarted = await startApp('storage', 'storage', {
      CLOUDAI_DATA_DIR: cluster.dataDir.path,
      LISTEN_ADDR: cluster.storageAddr,
    });
    cluster.apps.set('storage', restarted);

    expect((await cli('wait', taskId)).code).toBe(0);
    const files = JSON.parse((await cli('files', taskId, '--json')).stdout) as { path: string; size: number }[];
    expect(files).toEqual([
      expect.objectContaining({ path: 'big.bin', size: 200_000_000 }),
      expect.objectContaining({ path: 'small.txt', size: 3 }),
    ]);
    // Nothing half-written is left behind from the killed attempt.
    const incoming = await readdir(join(storageRoot(), '.incoming')).catch(() => []);
    expect(incoming).toEqual([]);
  });
});
