import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { ObjectStore } from '@cloudai/object-store';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '@cloudai/store';
import {
  requireDocker,
  requireS3Server,
  startApp,
  startCluster,
  startS3Server,
  tempDir,
  TEST_IMAGE,
  waitFor,
  type LocalCluster,
  type RunningS3Server,
  type TempDir,
} from '@cloudai/testing';

// Issue 4 as a user meets it, on each storage backend (issue 14): what a
// container writes under /output is stored under
// <user>/<task_name>/<submitted_at>/<task_id>/ (on s3, in an attempt folder
// there), listed and downloaded byte for byte, through real processes, real
// Docker and a real S3-compatible server.

const s3Bin = requireS3Server('the outputs end to end on the s3 backend');

/** A stored file as the backend holds it, read directly (not through storage). */
interface Stored {
  size: number;
  sha256: string;
}

interface Backend {
  name: 'fs' | 's3';
  skip: boolean;
  /** starts what it needs; returns storage's env */
  start(): Promise<Record<string, string>>;
  /** the task's published files, path → size and sha256; empty when it has none */
  stored(cluster: LocalCluster, taskFolder: string): Promise<Map<string, Stored>>;
  /** nothing of a killed upload is visible, and (fs) nothing left in .incoming */
  expectNothingHalfWritten(cluster: LocalCluster): Promise<void>;
  close(): Promise<void>;
}

const sha256Of = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const fsBackend: Backend = {
  name: 'fs',
  skip: false,
  start: async () => ({}),
  async stored(cluster, taskFolder) {
    const dir = join(cluster.dataDir.path, 'storage', 'files', taskFolder);
    const found = new Map<string, Stored>();
    const visit = async (rel: string) => {
      const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const path = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await visit(path);
        else found.set(path, { size: (await stat(join(dir, path))).size, sha256: sha256Of(await readFile(join(dir, path))) });
      }
    };
    await visit('');
    return found;
  },
  async expectNothingHalfWritten(cluster) {
    expect(await readdir(join(cluster.dataDir.path, 'storage', 'files', '.incoming')).catch(() => [])).toEqual([]);
  },
  close: async () => {},
};

let s3Server: RunningS3Server | undefined;
let objects: ObjectStore | undefined;
const s3Backend: Backend = {
  name: 's3',
  skip: !s3Bin,
  async start() {
    s3Server = await startS3Server(s3Bin!);
    const credentials = { accessKeyId: s3Server.accessKeyId, secretAccessKey: s3Server.secretAccessKey };
    objects = new ObjectStore(
      { endpoint: s3Server.endpoint, bucket: 'outputs', prefix: 'cloudai/', region: s3Server.region, forcePathStyle: true },
      { credentials },
    );
    await objects.client.send(new CreateBucketCommand({ Bucket: 'outputs' }));
    return {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: s3Server.endpoint,
      S3_BUCKET: 'outputs',
      S3_PREFIX: 'cloudai/',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    };
  },
  async stored(_cluster, taskFolder) {
    // Published attempts are those with a manifest; there must be one at most.
    const names: string[] = [];
    for await (const o of objects!.list(`${taskFolder}/`)) names.push(o.name);
    const manifests = names.filter((n) => n.endsWith('.manifest.json'));
    expect(manifests.length).toBeLessThanOrEqual(1);
    const found = new Map<string, Stored>();
    if (manifests.length === 0) return found;
    const attempt = manifests[0]!.slice(0, -'.manifest.json'.length);
    for (const name of names.filter((n) => n.startsWith(`${attempt}/`))) {
      const parts: Buffer[] = [];
      for await (const chunk of (await objects!.getObjectStream(name)).body) parts.push(chunk as Buffer);
      const data = Buffer.concat(parts);
      found.set(name.slice(attempt.length + 1), { size: data.length, sha256: sha256Of(data) });
    }
    return found;
  },
  async expectNothingHalfWritten() {
    // A killed attempt's objects sit unpublished (no manifest; `stored` checks that) until the sweep, a day later.
  },
  async close() {
    objects?.destroy();
    await s3Server?.stop();
  },
};

describe.each([fsBackend, s3Backend])('task outputs on the $name backend', (backend) => {
  let cluster: LocalCluster;
  let out: TempDir;
  let storageEnv: Record<string, string>;
  const cli = (...args: string[]) => cluster.cli(args);
  /** The task's folder in the seed layout, relative to the storage root or S3_PREFIX. */
  const taskFolder = (task: Record<string, unknown>) =>
    `${String(task.userId)}/${String(task.taskName)}/${Math.floor(Date.parse(String(task.submittedAt)) / 1000)}/${String(task.taskId)}`;

  beforeAll(async () => {
    if (backend.skip) return;
    await requireDocker();
    out = await tempDir('cloudai-download-');
    storageEnv = await backend.start();
    cluster = await startCluster({ workers: 1, workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '2' }), storageEnv });
  });

  afterAll(async () => {
    await cluster?.stop();
    await out?.remove();
    await backend.close();
  });

  beforeEach(({ skip }) => {
    if (backend.skip) skip();
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
    it('stores, lists and downloads what the container wrote (the seed’s training example)', async () => {
      const task = await run(
        'exp-outputs',
        'mkdir -p /output/models /output/logs; echo 0.93 > /output/metrics.json; ' +
          'head -c 5000000 /dev/urandom > /output/models/model.pkl; echo done > /output/logs/training.log',
      );
      expect(task).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, outputBytes: 5000000 + 5 + 5 });
      const taskId = String(task.taskId);
      const stored = await backend.stored(cluster, taskFolder(task));
      expect([...stored.keys()].sort()).toEqual(['logs/training.log', 'metrics.json', 'models/model.pkl']);
      expect(stored.get('models/model.pkl')!.size).toBe(5_000_000);
      expect(stored.get('metrics.json')!.sha256).toBe(sha256Of(Buffer.from('0.93\n')));

      const listed = await cli('files', taskId, '--json');
      expect(listed.code).toBe(0);
      const files = JSON.parse(listed.stdout) as { path: string; size: number; sha256: string }[];
      expect(files.map((f) => f.path).sort()).toEqual(['logs/training.log', 'metrics.json', 'models/model.pkl']);
      for (const f of files) expect(stored.get(f.path)).toEqual({ size: f.size, sha256: f.sha256 });

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
      expect((await backend.stored(cluster, taskFolder(task))).size).toBe(0);
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
        ...storageEnv,
      });
      cluster.apps.set('storage', restarted);

      expect((await cli('wait', taskId)).code).toBe(0);
      const files = JSON.parse((await cli('files', taskId, '--json')).stdout) as { path: string; size: number }[];
      expect(files).toEqual([
        expect.objectContaining({ path: 'big.bin', size: 200_000_000 }),
        expect.objectContaining({ path: 'small.txt', size: 3 }),
      ]);
      // Stored once, and nothing half-written is visible from the killed attempt.
      const task = JSON.parse((await cli('status', taskId, '--json')).stdout) as Record<string, unknown>;
      const stored = await backend.stored(cluster, taskFolder(task));
      expect([...stored].map(([path, f]) => [path, f.size]).sort()).toEqual([
        ['big.bin', 200_000_000],
        ['small.txt', 3],
      ]);
      await backend.expectNothingHalfWritten(cluster);
    });
  });
});
