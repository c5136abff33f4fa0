import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { ObjectStore } from '@cloudai/object-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  requireDocker,
  requireS3Server,
  startCluster,
  startMongoWireServer,
  startS3Server,
  tempDir,
  TEST_IMAGE,
  waitFor,
  type LocalCluster,
  type RunningFerretDb,
  type RunningS3Server,
  type TempDir,
} from '@cloudai/testing';

// Issue 14 as a new user tries it: the S3 backend with two storage replicas
// on one MongoDB-wire server (FerretDB), the master and the worker given
// both addresses. Either replica serves any task's outputs; killing the one
// receiving an upload costs a retry on the other, never a duplicate or a
// half-visible task; an interrupted download resumes from a ranged read.

const s3Bin = requireS3Server('storage replicas on the s3 backend');
const BIG_BYTES = 400 * 1024 * 1024;

let mongo: RunningFerretDb | undefined;
let s3: RunningS3Server | undefined;
let objects: ObjectStore | undefined;
let cluster: LocalCluster;
let out: TempDir;
const cli = (...args: string[]) => cluster.cli(args);
const sha256Of = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  if (!s3Bin) return;
  await requireDocker();
  mongo = await startMongoWireServer('storage replicas on the s3 backend');
  if (!mongo) return;
  s3 = await startS3Server(s3Bin);
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  objects = new ObjectStore({ endpoint: s3.endpoint, bucket: 'outputs', prefix: 'cloudai/', region: s3.region, forcePathStyle: true }, { credentials });
  await objects.client.send(new CreateBucketCommand({ Bucket: 'outputs' }));
  out = await tempDir('cloudai-replicas-');
  cluster = await startCluster({
    workers: 1,
    workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '2' }),
    storageReplicas: 2,
    storageEnv: {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: 'outputs',
      S3_PREFIX: 'cloudai/',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      MONGODB_URI: `${mongo.uri.replace(/\/$/, '')}/cloudai-replicas`,
    },
  });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await out?.remove();
  objects?.destroy();
  await s3?.stop();
  await mongo?.stop();
});

async function run(name: string, script: string): Promise<Record<string, unknown>> {
  const r = await cli('task', TEST_IMAGE, '--name', name, '--json', '--', 'sh', '-c', script);
  expect(r.stderr).toBe('');
  const { taskId } = JSON.parse(r.stdout) as { taskId: string };
  await cli('wait', taskId);
  return JSON.parse((await cli('status', taskId, '--json')).stdout) as Record<string, unknown>;
}

const taskFolder = (task: Record<string, unknown>) =>
  `${String(task.userId)}/${String(task.taskName)}/${Math.floor(Date.parse(String(task.submittedAt)) / 1000)}/${String(task.taskId)}`;

/** The object names under a task's folder, and the published attempt's files (path → sha256). */
async function storedObjects(folder: string) {
  const names: string[] = [];
  for await (const o of objects!.list(`${folder}/`)) names.push(o.name);
  const manifests = names.filter((n) => n.endsWith('.manifest.json'));
  const files = new Map<string, string>();
  for (const manifest of manifests) {
    const attempt = manifest.slice(0, -'.manifest.json'.length);
    for (const name of names.filter((n) => n.startsWith(`${attempt}/`))) {
      const hash = createHash('sha256');
      for await (const chunk of (await objects!.getObjectStream(name)).body) hash.update(chunk as Buffer);
      files.set(name.slice(attempt.length + 1), hash.digest('hex'));
    }
  }
  return { names, manifests, files };
}

type Listed = { path: string; size: number; sha256: string }[];

/** CPU seconds (user + system) a process has used. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe.skipIf(!s3Bin)('two storage replicas on the s3 backend and MongoDB', () => {
  it('store the seed’s training example once; either replica lists it, and it downloads byte for byte', async () => {
    const task = await run(
      'train-replicas',
      'mkdir -p /output/models /output/logs; head -c 3000000 /dev/urandom > /output/models/model.pkl; ' +
        'echo \'{"accuracy": 0.93}\' > /output/metrics.json; echo "epoch 1 done" > /output/logs/training.log',
    );
    expect(task).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    const taskId = String(task.taskId);
    const stored = await storedObjects(taskFolder(task));
    expect(stored.manifests).toHaveLength(1);
    expect([...stored.files.keys()].sort()).toEqual(['logs/training.log', 'metrics.json', 'models/model.pkl']);

    // Calls go to the replicas in turn: two listings are one from each.
    const listings = [await cli('files', taskId, '--json'), await cli('files', taskId, '--json')];
    for (const l of listings) expect(l.code).toBe(0);
    const files = JSON.parse(listings[0]!.stdout) as Listed;
    expect(JSON.parse(listings[1]!.stdout)).toEqual(files);
    for (const f of files) expect(stored.files.get(f.path)).toBe(f.sha256);

    const dl = await cli('download', taskId, '--out', join(out.path, 'whole'));
    expect(dl.code).toBe(0);
    for (const f of files) expect(sha256Of(await readFile(join(out.path, 'whole', f.path)))).toBe(f.sha256);

    // An interrupted download: the first part of the file is there as its partial; --resume asks for the rest.
    const model = files.find((f) => f.path === 'models/model.pkl')!;
    const data = await readFile(join(out.path, 'whole', 'models', 'model.pkl'));
    const resumeDir = join(out.path, 'resumed');
    await cli('download', taskId, '--out', resumeDir, '--file', 'metrics.json');
    await writeFile(join(resumeDir, 'metrics.json'), 'not yet');
    await mkdir(join(resumeDir, 'models'), { recursive: true });
    await writeFile(join(resumeDir, 'models', `model.pkl.${model.sha256.slice(0, 16)}-0badc0de.partial`), data.subarray(0, 1_234_567));
    const resumed = await cli('download', taskId, '--out', resumeDir, '--resume');
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain('downloaded models/model.pkl (2.9 MB; continued from 1.2 MB)');
    for (const f of files) expect(sha256Of(await readFile(join(resumeDir, f.path)))).toBe(f.sha256);
  }, 180_000);

  it('a replica killed while it receives an upload costs a retry on the other: the outputs are stored exactly once', async () => {
    const pids = new Map(['storage', 'storage-2'].map((name) => [name, cluster.apps.get(name)!.child.pid!]));
    const cpu0 = new Map<string, number>();
    for (const [name, pid] of pids) cpu0.set(name, await cpuSeconds(pid));
    const submitted = await cli(
      'task', TEST_IMAGE, '--name', 'big-replicas', '--json', '--', 'sh', '-c',
      `head -c ${BIG_BYTES} /dev/zero | tr '\\0' y > /output/big.bin; echo ok > /output/small.txt`,
    );
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    // The replica the upload went to is the one working: kill it once it has taken some of it.
    const receiving = await waitFor(
      async () => {
        for (const [name, pid] of pids) if ((await cpuSeconds(pid)) - cpu0.get(name)! >= 0.3) return name;
        return undefined;
      },
      { timeoutMs: 180_000, intervalMs: 50, what: 'a storage replica receiving the upload' },
    );
    const worker = cluster.apps.get('worker-1')!;
    expect(worker.logs.some((l) => l.msg === 'outputs stored' && l.taskId === taskId)).toBe(false);
    cluster.apps.get(receiving)!.child.kill('SIGKILL');

    await cli('wait', taskId);
    const task = JSON.parse((await cli('status', taskId, '--json')).stdout) as Record<string, unknown>;
    expect(task).toMatchObject({ status: 'SUCCEEDED', outputBytes: BIG_BYTES + 3 });
    const files = JSON.parse((await cli('files', taskId, '--json')).stdout) as Listed;
    const big = createHash('sha256');
    const mib = Buffer.alloc(1024 * 1024, 'y');
    for (let i = 0; i < BIG_BYTES / mib.length; i++) big.update(mib);
    expect(files.map((f) => [f.path, f.size, f.sha256]).sort()).toEqual([
      ['big.bin', BIG_BYTES, big.digest('hex')],
      ['small.txt', 3, sha256Of(Buffer.from('ok\n'))],
    ]);
    // One published attempt; the killed one's objects are unpublished, never listed, and swept a day later.
    const stored = await storedObjects(taskFolder(task));
    expect(stored.manifests).toHaveLength(1);
    expect(Object.fromEntries(stored.files)).toEqual(Object.fromEntries(files.map((f) => [f.path, f.sha256])));
    expect(worker.logs.some((l) => l.msg === 'storage replica unreachable; using another while it is down' || /retrying the upload/.test(String(l.msg)))).toBe(true);
  }, 300_000);
});
