import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError, Status } from 'nice-grpc';
import { create } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapeMetrics, startApp, tempDir, waitFor, type TempDir } from '@cloudai/testing';
import { StorageServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { sanitizeSegment } from './paths.js';
import {
  asMaster,
  MiB,
  startHarness,
  SUBMITTED,
  SUBMITTED_SECS,
  TEST_MASTER_KEY,
  uploadMessages,
  walk,
  type Harness,
} from './testing/harness.js';
import { body, chunks, END, file, header } from './testing/tar.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A tar of `dir` as node-tar's Pack streams it (the way the worker sends outputs). */
async function* packDir(dir: string): AsyncGenerator<Buffer> {
  for await (const chunk of create({ cwd: dir, portable: true }, ['.']) as AsyncIterable<Buffer>) {
    yield* chunks(chunk);
  }
}

async function download(h: Harness, taskId: string, path = '', range: { offset?: number; length?: number } = {}) {
  const out = new Map<string, { size: number; sha256: string; data: Buffer }>();
  let current: string | undefined;
  const parts: Buffer[] = [];
  const flush = () => {
    if (current !== undefined) out.get(current)!.data = Buffer.concat(parts.splice(0));
  };
  for await (const msg of h.client.downloadFiles({ taskId, path, offset: range.offset ?? 0, length: range.length ?? 0 })) {
    if (msg.file) {
      flush();
      current = msg.file.path;
      out.set(current, { size: msg.file.size, sha256: msg.file.sha256, data: Buffer.alloc(0) });
    } else if (msg.data) {
      expect(msg.data.length).toBeLessThanOrEqual(MiB);
      parts.push(msg.data);
    }
  }
  flush();
  return out;
}

describe('storage', () => {
  let h: Harness;
  let src: TempDir;
  const big = randomBytes(5 * 1000 * 1000);

  beforeAll(async () => {
    h = await startHarness({ OUTPUT_RETENTION_DAYS: '1' });
    src = await tempDir('cloudai-outputs-');
    await mkdir(join(src.path, 'models', 'v1', 'deep'), { recursive: true });
    await mkdir(join(src.path, 'empty-dir'));
    await writeFile(join(src.path, 'models', 'v1', 'deep', 'weights.bin'), big);
    await writeFile(join(src.path, 'empty.txt'), '');
    await writeFile(join(src.path, 'metrics.json'), '{"loss":0.1}\n');
  });
  afterAll(async () => {
    await h.close();
    await src.remove();
  });

  it('stores an upload under <user>/<task_name>/<secs>/<task_id> with records and hashes', async () => {
    const res = await h.client.uploadOutputs(
      uploadMessages({ taskId: 't-happy', userId: 'alice', taskName: 'train' }, packDir(src.path)),
    );
    const expected = [
      { path: 'empty.txt', size: 0, sha256: sha('') },
      { path: 'metrics.json', size: 13, sha256: sha('{"loss":0.1}\n') },
      { path: 'models/v1/deep/weights.bin', size: big.length, sha256: sha(big) },
    ];
    expect([...res.files].sort((a, b) => a.path.localeCompare(b.path))).toEqual(expected);
    expect(res.totalBytes).toBe(big.length + 13);

    const dir = join(h.root, 'alice', 'train', SUBMITTED_SECS, 't-happy');
    // Buffer.equals, not toEqual: a deep compare of 5 MB takes vitest many seconds.
    expect((await readFile(join(dir, 'models', 'v1', 'deep', 'weights.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(dir, 'empty.txt'))).toEqual(Buffer.alloc(0));
    expect(await readdir(join(dir, 'empty-dir'))).toEqual([]);
    expect(await readdir(join(h.root, '.incoming'))).toEqual([]);

    const records = await h.store.listFileMetadata('t-happy');
    expect(records.map((r) => [r.filePath, r.fileName, r.fileSize, r.sha256])).toEqual(
      expected.map((f) => [f.path, f.path.split('/').pop(), f.size, f.sha256]),
    );
    for (const r of records) {
      expect(r).toMatchObject({ taskId: 't-happy', taskName: 'train', userId: 'alice', assignmentId: 'a1' });
      expect(r.taskDir).toBe(`alice/train/${SUBMITTED_SECS}/t-happy`);
      expect(r.submittedAt.getTime()).toBe(SUBMITTED.getTime());
      expect(Date.now() - r.storedAt.getTime()).toBeLessThan(60_000);
    }

    const listed = await h.client.listFiles({ taskId: 't-happy' });
    expect(listed.files).toEqual(expected);
    expect(listed.totalBytes).toBe(big.length + 13);
  });

  it('stores a long name holding a newline, sent as a GNU long-name entry, under that exact name', async () => {
    const name = `${'x'.repeat(110)}\nfinal.csv`;
    const longLink = Buffer.from(`${name}\0`);
    const parts = [header({ name: '././@LongLink', type: 'L', size: longLink.length }), body(longLink), file('cut-name', 'csv'), END];
    const res = await h.client.uploadOutputs(uploadMessages({ taskId: 't-newline' }, parts));
    expect(res.files).toEqual([{ path: name, size: 3, sha256: sha('csv') }]);
    expect((await h.store.listFileMetadata('t-newline')).map((r) => r.filePath)).toEqual([name]);
    await h.client.deleteFiles({ taskId: 't-newline' });
  });

  it('fails UNAVAILABLE, so the worker keeps its copy and retries, when storage itself cannot store', async () => {
    // Something storage-side breaks (here: its working folder is a file).
    const incoming = join(h.root, '.incoming');
    await rm(incoming, { recursive: true });
    await writeFile(incoming, 'not a folder');
    try {
      const err = await h.client.uploadOutputs(uploadMessages({ taskId: 't-broken' }, [file('a.txt', 'a'), END])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect((err as ClientError).code).toBe(Status.UNAVAILABLE);
      expect((err as ClientError).details).toMatch(/storage could not store the outputs \(ENOTDIR\); send them again later/);
    } finally {
      await rm(incoming);
      await mkdir(incoming);
    }
    const res = await h.client.uploadOutputs(uploadMessages({ taskId: 't-broken' }, [file('a.txt', 'a'), END]));
    expect(res.files.map((f) => f.path)).toEqual(['a.txt']);
    await h.client.deleteFiles({ taskId: 't-broken' });
  });

  it('streams downloads back byte for byte, in ≤ 1 MiB chunks', async () => {
    const all = await download(h, 't-happy');
    expect([...all.keys()]).toEqual(['empty.txt', 'metrics.json', 'models/v1/deep/weights.bin']);
    const weights = all.get('models/v1/deep/weights.bin')!;
    expect(weights.data.equals(big)).toBe(true);
    expect(weights.sha256).toBe(sha(big));
    expect(all.get('empty.txt')!.data.length).toBe(0);

    const one = await download(h, 't-happy', 'metrics.json');
    expect([...one.keys()]).toEqual(['metrics.json']);
    expect(one.get('metrics.json')!.data.toString()).toBe('{"loss":0.1}\n');

    const err = await download(h, 't-happy', '../../etc/passwd').catch((e: unknown) => e);
    expect((err as ClientError).code).toBe(Status.NOT_FOUND);
  });

  it('streams a piece of one file from an offset (a resumed download), the header still describing the whole file', async () => {
    const path = 'models/v1/deep/weights.bin';
    const tail = (await download(h, 't-happy', path, { offset: 3_333_333 })).get(path)!;
    expect(tail).toMatchObject({ size: big.length, sha256: sha(big) });
    expect(tail.data.equals(big.subarray(3_333_333))).toBe(true);
    const middle = (await download(h, 't-happy', path, { offset: 1_048_570, length: 1_048_590 })).get(path)!;
    expect(middle.data.equals(big.subarray(1_048_570, 1_048_570 + 1_048_590))).toBe(true);
    // A length past the end stops at the end; the end itself is an empty piece.
    expect((await download(h, 't-happy', path, { offset: big.length - 5, length: 100 })).get(path)!.data.equals(big.subarray(-5))).toBe(true);
    expect((await download(h, 't-happy', path, { offset: big.length })).get(path)!.data.length).toBe(0);

    const past = await download(h, 't-happy', path, { offset: big.length + 1 }).catch((e: unknown) => e);
    expect(past).toMatchObject({ code: Status.OUT_OF_RANGE, details: `offset ${big.length + 1} is past the end of "${path}" (${big.length} bytes)` });
    const whole = await download(h, 't-happy', '', { offset: 1 }).catch((e: unknown) => e);
    expect(whole).toMatchObject({ code: Status.INVALID_ARGUMENT, details: 'offset and length apply to one file: they need a path' });
  });

  it('a retry of the same task replaces the first upload: no duplicates, no stale files', async () => {
    const first = Buffer.concat([file('keep.txt', 'v1'), file('stale.txt', 'old'), END]);
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-retry', taskName: 'r' }, [first]));
    const second = Buffer.concat([file('keep.txt', 'v2'), file('new/added.txt', 'new'), END]);
    const res = await h.client.uploadOutputs(
      uploadMessages({ taskId: 't-retry', taskName: 'r', assignmentId: 'a2' }, [second]),
    );
    expect(res.files.map((f) => f.path)).toEqual(['keep.txt', 'new/added.txt']);

    const dir = join(h.root, 'alice', 'r', SUBMITTED_SECS, 't-retry');
    expect(await walk(dir)).toEqual(['keep.txt', 'new', 'new/added.txt']);
    expect(await readFile(join(dir, 'keep.txt'), 'utf8')).toBe('v2');
    const records = await h.store.listFileMetadata('t-retry');
    expect(records.map((r) => [r.filePath, r.assignmentId])).toEqual([
      ['keep.txt', 'a2'],
      ['new/added.txt', 'a2'],
    ]);
    expect(await readdir(join(h.root, '.incoming'))).toEqual([]);
  });

  it('concurrent uploads of one task end with exactly one of them stored', async () => {
    const a = Buffer.concat([file('a.txt', 'a'), file('shared.txt', 'from a'), END]);
    const b = Buffer.concat([file('b.txt', 'b'), file('shared.txt', 'from b'), END]);
    await Promise.all([
      h.client.uploadOutputs(uploadMessages({ taskId: 't-race', taskName: 'race' }, [a])),
      h.client.uploadOutputs(uploadMessages({ taskId: 't-race', taskName: 'race' }, [b])),
    ]);
    const files = (await h.store.listFileMetadata('t-race')).map((r) => r.filePath);
    const onDisk = await walk(join(h.root, 'alice', 'race', SUBMITTED_SECS, 't-race'));
    expect(onDisk).toEqual(files);
    expect([['a.txt', 'shared.txt'], ['b.txt', 'shared.txt']]).toContainEqual(files);
  });

  // User names are checked by the master (and the grant): path-like task names and ids are not.
  it('sanitizes task names and ids for the path but keeps them as typed in the records', async () => {
    const user = 'alice';
    const taskName = '../a/b';
    await h.client.uploadOutputs(
      uploadMessages({ taskId: '../t-names', userId: user, taskName }, [Buffer.concat([file('out.txt', 'hi'), END])]),
    );
    const dir = join(sanitizeSegment(user), sanitizeSegment(taskName), SUBMITTED_SECS, sanitizeSegment('../t-names'));
    expect(await readFile(join(h.root, dir, 'out.txt'), 'utf8')).toBe('hi');
    const [record] = await h.store.listFileMetadata('../t-names');
    expect(record).toMatchObject({ userId: user, taskName, taskDir: dir.split('\\').join('/') });
    // Nothing appeared beside the root.
    expect((await walk(h.tmp.path)).filter((p) => !p.startsWith('root') && !p.startsWith('data'))).toEqual([]);
  });

  it('an upload of no files stores nothing and replaces earlier outputs', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-empty', taskName: 'e' }, [file('x', 'y'), END]));
    const res = await h.client.uploadOutputs(uploadMessages({ taskId: 't-empty', taskName: 'e' }, [END]));
    expect(res).toEqual({ files: [], totalBytes: 0 });
    expect((await h.client.listFiles({ taskId: 't-empty' })).files).toEqual([]);
    expect(await readdir(h.root)).not.toContain('e');
    expect(await readdir(join(h.root, 'alice'))).not.toContain('e');
  });

  it('lists nothing for an unknown task rather than failing', async () => {
    expect(await h.client.listFiles({ taskId: 'never-uploaded' })).toEqual({ files: [], totalBytes: 0 });
  });

  it('deletes a task’s folder and records, and prunes empty parents', async () => {
    await h.client.uploadOutputs(
      uploadMessages({ taskId: 't-del', userId: 'bob', taskName: 'gone' }, [file('a.txt', 'abc'), END]),
    );
    const res = await h.client.deleteFiles({ taskId: 't-del' });
    expect(res).toEqual({ deletedFiles: 1, deletedBytes: 3 });
    expect(await readdir(h.root)).not.toContain('bob');
    expect(await h.store.listFileMetadata('t-del')).toEqual([]);
    expect(await h.client.deleteFiles({ taskId: 't-del' })).toEqual({ deletedFiles: 0, deletedBytes: 0 });
  });

  it('retention removes outputs older than the configured age, with their records', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-old', taskName: 'old' }, [file('o.txt', 'o'), END]));
    const sweeper = h.storage.retentionSweeper;
    // Now: nothing is a day old yet.
    expect(await sweeper.sweep(new Date())).toEqual([]);
    const removed = await sweeper.sweep(new Date(Date.now() + 2 * 24 * 3600 * 1000));
    expect(removed).toContain('t-old');
    expect(removed).toContain('t-happy');
    expect(await h.store.listFileMetadata('t-old')).toEqual([]);
    expect(await walk(h.root)).toEqual(['.incoming']);
  });

  it('a retention delete keeps outputs uploaded again after the sweep chose the task', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-again' }, [file('v1.txt', '1'), END]));
    const [first] = await h.store.listFileMetadata('t-again');
    // The sweep picked the task by its first upload; a retry is published before the delete runs.
    await new Promise((r) => setTimeout(r, 5));
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-again' }, [file('v2.txt', '2'), END]));
    const cutoff = new Date(first!.storedAt.getTime() + 1);
    expect(await h.storage.taskOutputs.delete('t-again', { storedBefore: cutoff })).toEqual({ files: 0, bytes: 0 });
    expect((await h.store.listFileMetadata('t-again')).map((r) => r.filePath)).toEqual(['v2.txt']);
    expect(await h.storage.taskOutputs.delete('t-again')).toEqual({ files: 1, bytes: 1 });
  });

  it('a restart removes leftovers in .incoming and keeps stored outputs', async () => {
    await h.client.uploadOutputs(uploadMessages({ taskId: 't-keep', taskName: 'k' }, [file('k.txt', 'k'), END]));
    await mkdir(join(h.root, '.incoming', 'upload-leftover', 'half'), { recursive: true });
    await writeFile(join(h.root, '.incoming', 'upload-leftover', 'half', 'part.bin'), 'partial');
    await h.restart();
    expect(await readdir(join(h.root, '.incoming'))).toEqual([]);
    const all = await download(h, 't-keep');
    expect(all.get('k.txt')!.data.toString()).toBe('k');
  });
});

describe('storage metrics', () => {
  it('count the bytes and files of stored uploads and time them; a refused upload adds nothing but its gRPC status', async () => {
    const h = await startHarness();
    const src = await tempDir('cloudai-outputs-');
    try {
      await writeFile(join(src.path, 'a.txt'), 'twelve bytes');
      await mkdir(join(src.path, 'sub'));
      await writeFile(join(src.path, 'sub', 'b.bin'), randomBytes(3000));
      await h.client.uploadOutputs(uploadMessages({ taskId: 't-metrics', userId: 'alice', taskName: 'm' }, packDir(src.path)));
      // No header first: refused before anything is stored.
      await expect(h.client.uploadOutputs((async function* () { yield { data: Buffer.from('x') }; })())).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
      });

      const s = await scrapeMetrics(h.storage.metricsAddress!);
      expect(s.value('cloudai_output_files_total')).toBe(2);
      expect(s.value('cloudai_output_bytes_total')).toBe(12 + 3000);
      expect(s.value('cloudai_output_upload_seconds_count')).toBe(1);
      const upload = { service: 'cloudai.v1.StorageService', method: 'UploadOutputs' };
      expect(s.value('cloudai_grpc_server_handled_total', { ...upload, code: 'OK' })).toBe(1);
      expect(s.value('cloudai_grpc_server_handled_total', { ...upload, code: 'INVALID_ARGUMENT' })).toBe(1);
      expect(s.value('cloudai_grpc_server_handling_seconds_count', upload)).toBe(2);
    } finally {
      await src.remove();
      await h.close();
    }
  });
});

describe('storage process killed mid-upload', () => {
  it('ends, after a restart and the worker’s retry, with the complete outputs stored once', async () => {
    const tmp = await tempDir('cloudai-storage-kill-');
    const env = {
      LISTEN_ADDR: '127.0.0.1:0',
      CLOUDAI_DATA_DIR: join(tmp.path, 'data'),
      STORAGE_ROOT: join(tmp.path, 'root'),
    };
    const incoming = join(env.STORAGE_ROOT, '.incoming');
    await mkdir(join(env.CLOUDAI_DATA_DIR, 'master'), { recursive: true });
    await writeFile(join(env.CLOUDAI_DATA_DIR, 'master', 'signing-key.pub'), TEST_MASTER_KEY.publicKeyPem());
    const payload = randomBytes(3 * MiB);
    const tar = Buffer.concat([file('result.bin', payload), file('log.txt', 'done'), END]);
    try {
      const first = await startApp('storage-1', 'storage', env);
      const conn = connect(StorageServiceDefinition, String(first.readyLine.address));
      let sent = 0;
      async function* halfThenKill() {
        for (const part of chunks(tar, 256 * 1024)) {
          yield part;
          if (++sent === 4) {
            // Kill once storage has surely begun writing the upload to disk.
            await waitFor(async () => ((await readdir(incoming)).length > 0 ? true : undefined));
            first.child.kill('SIGKILL');
            await first.exited;
          }
        }
      }
      const err = await conn.client
        .uploadOutputs(uploadMessages({ taskId: 't-kill' }, halfThenKill()))
        .catch((e: unknown) => e);
      conn.close();
      expect(err).toBeInstanceOf(ClientError);
      expect((err as ClientError).code).toBe(Status.UNAVAILABLE);
      // The killed process left its partial upload behind.
      expect((await readdir(join(env.STORAGE_ROOT, '.incoming'))).length).toBe(1);

      const second = await startApp('storage-2', 'storage', env);
      try {
        expect(second.logs.some((l) => l.msg === 'removed unfinished uploads left by a previous run')).toBe(true);
        expect(await readdir(join(env.STORAGE_ROOT, '.incoming'))).toEqual([]);
        const conn2 = connect(StorageServiceDefinition, String(second.readyLine.address));
        const res = await conn2.client.uploadOutputs(uploadMessages({ taskId: 't-kill' }, chunks(tar)));
        expect(res.files.map((f) => [f.path, f.sha256])).toEqual([
          ['result.bin', sha(payload)],
          ['log.txt', sha('done')],
        ]);
        const listed = await conn2.client.listFiles({ taskId: 't-kill' }, asMaster());
        expect(listed.files).toHaveLength(2);
        conn2.close();
        expect(await walk(env.STORAGE_ROOT)).toEqual([
          '.incoming',
          'alice',
          'alice/job',
          `alice/job/${SUBMITTED_SECS}`,
          `alice/job/${SUBMITTED_SECS}/t-kill`,
          `alice/job/${SUBMITTED_SECS}/t-kill/log.txt`,
          `alice/job/${SUBMITTED_SECS}/t-kill/result.bin`,
        ]);
        const stored = await readFile(join(env.STORAGE_ROOT, 'alice/job', SUBMITTED_SECS, 't-kill/result.bin'));
        expect(stored.equals(payload)).toBe(true);
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      await tmp.remove();
    }
  });
});
