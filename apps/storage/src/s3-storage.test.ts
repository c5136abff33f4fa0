import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '@cloudai/logger';
import { ObjectStore } from '@cloudai/object-store';
import { StorageServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { openSqliteStore } from '@cloudai/store';
import { requireS3Server, startApp, tempDir, waitFor } from '@cloudai/testing';
import { type ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@cloudai/config';
import { S3Backend } from './backends/s3.js';
import { Env } from './env.js';
import { Storage } from './storage.js';
import { asMaster, MiB, startHarness, SUBMITTED_SECS, TEST_MASTER_KEY, uploadMessages, type Harness } from './testing/harness.js';
import { startS3Fixture, TEST_BUCKET, TEST_PREFIX, type S3Fixture } from './testing/s3.js';
import { chunks, END, file, header } from './testing/tar.js';

const bin = requireS3Server('storage on the s3 backend');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const DAYS_LATER = new Date(Date.now() + 2 * 24 * 3600 * 1000);

async function download(h: Harness, taskId: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer[]>();
  let current: Buffer[] = [];
  for await (const msg of h.client.downloadFiles({ taskId, path: '' })) {
    if (msg.file) out.set(msg.file.path, (current = []));
    else if (msg.data) current.push(Buffer.from(msg.data));
  }
  return new Map([...out].map(([path, parts]) => [path, Buffer.concat(parts)]));
}

describe.skipIf(!bin)('storage on the s3 backend, over gRPC', () => {
  let s3: S3Fixture;
  let h: Harness;
  const model = randomBytes(12 * MiB + 77);

  beforeAll(async () => {
    s3 = await startS3Fixture(bin!);
    h = await startHarness({ ...s3.env, STORAGE_MAX_TASK_BYTES: String(64 * MiB) });
  });
  afterAll(async () => {
    await h?.close();
    await s3?.close();
  });

  it('stores each file as one object under the seed layout’s task folder, its sha256 as the object’s checksum', async () => {
    const tar = Buffer.concat([file('models/model.pkl', model), file('metrics.json', '{"acc":0.9}'), file('logs/training.log', 'done\n'), END]);
    const res = await h.client.uploadOutputs(uploadMessages({ taskId: 't-seed', userId: 'alice', taskName: 'train' }, chunks(tar)));
    expect(res.files.map((f) => [f.path, f.sha256])).toEqual([
      ['models/model.pkl', sha(model)],
      ['metrics.json', sha('{"acc":0.9}')],
      ['logs/training.log', sha('done\n')],
    ]);
    const records = await h.store.listFileMetadata('t-seed');
    const dir = records[0]!.taskDir;
    expect(dir).toMatch(new RegExp(`^alice/train/${SUBMITTED_SECS}/t-seed/\\d{8}T\\d{6}Z-[0-9a-f]{12}$`));
    const { objects, uploads } = await s3.contents();
    expect(uploads).toEqual([]);
    expect(objects.filter((o) => !o.startsWith('.staging/'))).toEqual([
      `${dir}.manifest.json`,
      `${dir}/logs/training.log`,
      `${dir}/metrics.json`,
      `${dir}/models/model.pkl`,
    ]);
    // A small file: one PUT, whose checksum is the file's sha256.
    const metrics = await s3.objects.head(`${dir}/metrics.json`);
    expect(metrics?.checksumSha256).toBe(Buffer.from(sha('{"acc":0.9}'), 'hex').toString('base64'));
    // A large one: a multipart upload, whose checksum S3 keeps only as COMPOSITE (of its parts').
    // A composite checksum over its parts (12 MiB in 5 MiB parts: 3).
    expect((await s3.objects.head(`${dir}/models/model.pkl`))?.checksumSha256).toMatch(/^[A-Za-z0-9+/]{43}=-3$/);
    const manifest = JSON.parse((await bodyOf(s3.objects, `${dir}.manifest.json`)).toString()) as { files: { path: string; sha256: string }[] };
    expect(manifest.files.map((f) => [f.path, f.sha256])).toEqual(res.files.map((f) => [f.path, f.sha256]));

    const all = await download(h, 't-seed');
    expect(all.get('models/model.pkl')!.equals(model)).toBe(true);
    expect(all.get('logs/training.log')!.toString()).toBe('done\n');
  });

  it('a retry replaces the earlier attempt: its objects are deleted, one copy is left', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-retry' }, [Buffer.concat([file('a.txt', 'v1'), file('old.txt', 'old'), END])]));
    const [first] = await h.store.listFileMetadata('t-retry');
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-retry', assignmentId: 'a2' }, [Buffer.concat([file('a.txt', 'v2'), END])]));
    const records = await h.store.listFileMetadata('t-retry');
    expect(records.map((r) => r.filePath)).toEqual(['a.txt']);
    expect(records[0]!.taskDir).not.toBe(first!.taskDir);
    const { objects } = await s3.contents();
    expect(objects.filter((o) => o.includes('/t-retry/'))).toEqual([`${records[0]!.taskDir}.manifest.json`, `${records[0]!.taskDir}/a.txt`]);
    expect((await download(h, 't-retry')).get('a.txt')!.toString()).toBe('v2');
  });

  it('a stream cut mid-file leaves nothing visible, staged or open, and the earlier outputs as they were', async () => {
    const before = await s3.contents();
    const cut = [file('small.txt', 's'), header({ name: 'model.pkl', size: model.length }), model.subarray(0, 9 * MiB)];
    const err = await h.client.uploadOutputs(uploadMessages({ taskId: 't-retry' }, cut.flatMap((p) => [...chunks(p)]))).catch((e: unknown) => e);
    expect((err as ClientError).code).toBe(Status.INVALID_ARGUMENT);
    await waitFor(async () => (JSON.stringify(await s3.contents()) === JSON.stringify(before) ? true : undefined), {
      timeoutMs: 5_000,
      what: 'the cut upload to be removed',
    });
    expect((await download(h, 't-retry')).get('a.txt')!.toString()).toBe('v2');
  });

  it('deletes a task’s objects with its records', async () => {
    expect(await h.client.deleteFiles({ taskId: 't-retry' })).toEqual({ deletedFiles: 1, deletedBytes: 2 });
    const { objects } = await s3.contents();
    expect(objects.filter((o) => o.includes('/t-retry/'))).toEqual([]);
    expect(await h.client.listFiles({ taskId: 't-retry' })).toEqual({ files: [], totalBytes: 0 });
  });

  it('refuses a name holding a control character (fs stores it; S3 listings cannot carry it back), leaving nothing', async () => {
    const before = await s3.contents();
    const err = await h.client
      .uploadOutputs(uploadMessages({ taskId: 't-newline' }, [Buffer.concat([file('ok.txt', 'ok'), file('bad\nname.csv', 'csv'), END])]))
      .catch((e: unknown) => e);
    expect((err as ClientError).code).toBe(Status.INVALID_ARGUMENT);
    expect((err as ClientError).details).toMatch(/"bad\\nname.csv" has a control character in its name/);
    await waitFor(async () => (JSON.stringify(await s3.contents()) === JSON.stringify(before) ? true : undefined), {
      timeoutMs: 5_000,
      what: 'the refused upload to be removed',
    });
  });

  it('refuses to start when the bucket is not there, naming it', async () => {
    const tmp = await tempDir('cloudai-storage-no-bucket-');
    const storage = new Storage(
      parseEnv(Env, { ...s3.env, S3_BUCKET: 'no-such-bucket', LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_DATA_DIR: tmp.path }),
      createLogger({ name: 'no-bucket', level: 'silent' }),
    );
    try {
      await expect(storage.start()).rejects.toThrow(/head bucket no-such-bucket: NotFound/);
    } finally {
      await storage.stop();
      await tmp.remove();
    }
  });

  it('a file missing from the bucket downloads as NOT_FOUND', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-lost' }, [Buffer.concat([file('lost.txt', 'x'), END])]));
    const [record] = await h.store.listFileMetadata('t-lost');
    await s3.objects.delete([`${record!.taskDir}/lost.txt`]);
    const err = await download(h, 't-lost').catch((e: unknown) => e);
    expect((err as ClientError).code).toBe(Status.NOT_FOUND);
    expect((err as ClientError).details).toMatch(/output file "lost.txt" of task t-lost is missing from storage/);
  });
});

async function bodyOf(objects: ObjectStore, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of (await objects.getObjectStream(name)).body) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe.skipIf(!bin)('a storage process on the s3 backend killed mid-upload', () => {
  it('costs a retry, never a duplicate or a half-visible task; the sweep removes what it left', async () => {
    const s3 = await startS3Fixture(bin!);
    const tmp = await tempDir('cloudai-storage-s3-kill-');
    const env = { ...s3.env, LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_DATA_DIR: join(tmp.path, 'data') };
    await mkdir(join(env.CLOUDAI_DATA_DIR, 'master'), { recursive: true });
    await writeFile(join(env.CLOUDAI_DATA_DIR, 'master', 'signing-key.pub'), TEST_MASTER_KEY.publicKeyPem());
    const payload = randomBytes(24 * MiB);
    const tar = Buffer.concat([file('small.txt', 'first'), file('result.bin', payload), file('log.txt', 'done'), END]);
    try {
      const first = await startApp('storage-s3-1', 'storage', env);
      const conn = connect(StorageServiceDefinition, String(first.readyLine.address));
      let sent = 0;
      async function* halfThenKill() {
        for (const part of chunks(tar, 256 * 1024)) {
          yield part;
          if (++sent === 60) {
            // Killed once its multipart upload of result.bin has parts stored.
            await waitFor(async () => ((await s3.contents()).uploads.length > 0 ? true : undefined));
            first.child.kill('SIGKILL');
            await first.exited;
          }
        }
      }
      const err = await conn.client.uploadOutputs(uploadMessages({ taskId: 't-kill' }, halfThenKill())).catch((e: unknown) => e);
      conn.close();
      expect((err as ClientError).code).toBe(Status.UNAVAILABLE);
      // Left behind, out of every reader's sight: a marker, staged objects, an open multipart upload.
      const left = await s3.contents();
      expect(left.objects.some((o) => o.startsWith('.staging/'))).toBe(true);
      expect(left.objects.some((o) => o.endsWith('/small.txt'))).toBe(true);
      expect(left.objects.some((o) => o.endsWith('.manifest.json'))).toBe(false);
      expect(left.uploads).toHaveLength(1);

      const second = await startApp('storage-s3-2', 'storage', env);
      let done = false;
      try {
        const conn2 = connect(StorageServiceDefinition, String(second.readyLine.address));
        const res = await conn2.client.uploadOutputs(uploadMessages({ taskId: 't-kill' }, chunks(tar)));
        expect(res.files.map((f) => [f.path, f.sha256])).toEqual([
          ['small.txt', sha('first')],
          ['result.bin', sha(payload)],
          ['log.txt', sha('done')],
        ]);
        expect((await conn2.client.listFiles({ taskId: 't-kill' }, asMaster())).files).toHaveLength(3);
        conn2.close();
        second.child.kill('SIGTERM');
        await second.exited;
        done = true;
      } finally {
        if (!done) second.child.kill('SIGKILL');
      }

      // A day later, the sweep of any replica removes the killed attempt and its open upload.
      const store = await openSqliteStore(join(env.CLOUDAI_DATA_DIR, 'storage', 'metadata.db'));
      const objects = new ObjectStore({ endpoint: s3.server.endpoint, bucket: TEST_BUCKET, prefix: TEST_PREFIX, region: s3.server.region, forcePathStyle: true });
      try {
        const backend = new S3Backend(objects, store, { maxBytes: 1, maxFiles: 1, maxDepth: 1 }, createLogger({ name: 'sweep', level: 'silent' }));
        expect(await backend.sweep(new Date())).toBe(0);
        expect(await backend.sweep(DAYS_LATER)).toBe(2); // the open multipart upload and the attempt
        const records = await store.listFileMetadata('t-kill');
        expect(await s3.strays(records)).toEqual([]);
        // Only the published attempt is left, and its marker is gone too.
        const dir = records[0]!.taskDir;
        expect((await s3.contents()).objects).toEqual([`${dir}.manifest.json`, `${dir}/log.txt`, `${dir}/result.bin`, `${dir}/small.txt`]);
      } finally {
        objects.destroy();
        await store.close();
      }
    } finally {
      await tmp.remove();
      await s3.close();
    }
  });
});
