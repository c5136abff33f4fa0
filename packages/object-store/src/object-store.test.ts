import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { requireS3Server, startS3Server, type RunningS3Server } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ObjectStoreError } from './errors.js';
import { ObjectStore } from './object-store.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const CONCURRENCY = 3;
const bin = requireS3Server('the object store against VersityGW');

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** `data` in chunks of `chunk` bytes, as an upload stream delivers it. */
async function* chunked(data: Buffer, chunk = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Watches the store's real client: `around` sees each command and sends it with `send()`. */
function watchSends(store: ObjectStore, around: (command: unknown, send: () => Promise<unknown>) => Promise<unknown>) {
  const realSend = store.client.send.bind(store.client) as (command: unknown, options?: unknown) => Promise<unknown>;
  return vi
    .spyOn(store.client, 'send')
    .mockImplementation(((command: unknown, options?: unknown) => around(command, () => realSend(command, options))) as never);
}

async function bytesOf(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(!bin)('ObjectStore on VersityGW', () => {
  let server: RunningS3Server;
  let store: ObjectStore;
  // 40 MiB: eight 5 MiB parts, the last a little short, at most 3 in flight
  const big = randomBytes(40 * MiB - 12_345);

  beforeAll(async () => {
    server = await startS3Server(bin!);
    store = new ObjectStore(
      { endpoint: server.endpoint, bucket: 'outputs', prefix: 'cloudai/', region: server.region, forcePathStyle: true },
      {
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        preferredPartSize: PART,
        partConcurrency: CONCURRENCY,
      },
    );
    await store.client.send(new CreateBucketCommand({ Bucket: 'outputs' }));
    await store.checkBucket();
  });
  afterAll(async () => {
    store?.destroy();
    await server?.stop();
  });

  /** Nothing under `name`: no object and no open multipart upload. */
  async function expectNothingAt(name: string) {
    expect(await store.head(name)).toBeUndefined();
    expect(await collect(store.listOpenMultipartUploads(name))).toEqual([]);
  }

  it('stores a small object with one PUT, byte for byte, its sha256 as the object checksum', async () => {
    const data = randomBytes(100_000);
    const put = await store.putObjectStream('u/t/small.bin', data.length, Readable.from(chunked(data, 4096)));
    expect(put).toMatchObject({ key: 'cloudai/u/t/small.bin', size: data.length, sha256: sha256(data), parts: 0 });
    const head = await store.head('u/t/small.bin');
    expect(head).toMatchObject({ size: data.length, checksumType: 'FULL_OBJECT' });
    expect(Buffer.from(head!.checksumSha256!, 'base64').toString('hex')).toBe(sha256(data));
    expect((await bytesOf((await store.getObjectStream('u/t/small.bin')).body)).equals(data)).toBe(true);
  });

  it('stores an empty object', async () => {
    const put = await store.putObjectStream('u/t/empty', 0, []);
    expect(put.sha256).toBe(sha256(Buffer.alloc(0)));
    expect(await store.head('u/t/empty')).toMatchObject({ size: 0 });
  });

  it('stores a large object in parts, byte for byte, each part and the whole checked by the server', async () => {
    const put = await store.putObjectStream('u/t/big.bin', big.length, chunked(big), { expectedSha256: () => sha256(big) });
    expect(put.parts).toBe(Math.ceil(big.length / PART));
    expect(put.sha256).toBe(sha256(big));
    // COMPOSITE: the sha256 of the parts' sha256s, then the part count
    const partDigests = Array.from({ length: put.parts }, (_, i) =>
      createHash('sha256').update(big.subarray(i * PART, (i + 1) * PART)).digest(),
    );
    const composite = `${createHash('sha256').update(Buffer.concat(partDigests)).digest('base64')}-${put.parts}`;
    expect(put.checksumSha256).toBe(composite);
    expect(await store.head('u/t/big.bin')).toMatchObject({ size: big.length, checksumSha256: composite, checksumType: 'COMPOSITE' });
    expect(sha256(await bytesOf((await store.getObjectStream('u/t/big.bin')).body))).toBe(sha256(big));
    expect(await collect(store.listOpenMultipartUploads(''))).toEqual([]);
  });

  it('reads ahead of the uploads by at most the parts in flight plus the one filling', async () => {
    let inFlight = 0;
    let mostInFlight = 0;
    let partBytesDone = 0;
    const sends = watchSends(store, async (command, send) => {
      if (!(command instanceof UploadPartCommand)) return send();
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        return await send();
      } finally {
        inFlight--;
        partBytesDone += command.input.ContentLength ?? 0;
      }
    });
    let mostAhead = 0;
    async function* watched(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < big.length; at += 256 * 1024) {
        mostAhead = Math.max(mostAhead, at - partBytesDone);
        yield big.subarray(at, at + 256 * 1024);
      }
    }
    try {
      await store.putObjectStream('u/t/watched.bin', big.length, watched());
    } finally {
      sends.mockRestore();
    }
    expect(mostInFlight).toBeGreaterThan(0);
    expect(mostInFlight).toBeLessThanOrEqual(CONCURRENCY);
    expect(mostAhead).toBeLessThanOrEqual((CONCURRENCY + 1) * PART);
  });

  it('refuses bytes whose sha256 is not the one expected, leaving nothing (BadDigest from the server on a PUT)', async () => {
    const data = randomBytes(1000);
    const wrong = sha256(Buffer.from('something else'));
    const put = store.putObjectStream('u/t/wrong-small', data.length, [data], { expectedSha256: wrong });
    await expect(put).rejects.toBeInstanceOf(ObjectStoreError);
    await expect(put).rejects.toMatchObject({ code: 'BadDigest' });
    await expectNothingAt('u/t/wrong-small');

    const multipart = store.putObjectStream('u/t/wrong-big', big.length, chunked(big), { expectedSha256: wrong });
    await expect(multipart).rejects.toMatchObject({ code: 'ChecksumMismatch' });
    await expectNothingAt('u/t/wrong-big');
  });

  it('refuses a source shorter or longer than declared, leaving nothing', async () => {
    await expect(store.putObjectStream('u/t/short', big.length, chunked(big.subarray(0, 12 * MiB)))).rejects.toMatchObject({
      code: 'SizeMismatch',
    });
    await expectNothingAt('u/t/short');
    await expect(store.putObjectStream('u/t/long', 100, [randomBytes(101)])).rejects.toMatchObject({ code: 'SizeMismatch' });
    await expectNothingAt('u/t/long');
  });

  it('aborts the multipart upload when the source fails midway', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield* chunked(big.subarray(0, 3 * PART + 1));
      throw new Error('the upload stream broke');
    }
    await expect(store.putObjectStream('u/t/broken', big.length, failing())).rejects.toThrow('the upload stream broke');
    await expectNothingAt('u/t/broken');
  });

  it('aborts the multipart upload when a part fails, and stops reading the source', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunked(big)) {
        pulled += chunk.length;
        yield chunk;
      }
    }
    // The connection to the server drops while part 3 is sent.
    const sends = watchSends(store, (command, send) =>
      command instanceof UploadPartCommand && command.input.PartNumber === 3
        ? Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
        : send(),
    );
    try {
      const put = store.putObjectStream('u/t/part-fails', big.length, counted());
      await expect(put).rejects.toMatchObject({ code: 'Network', message: expect.stringContaining('upload part 3 of cloudai/u/t/part-fails') });
    } finally {
      sends.mockRestore();
    }
    expect(pulled).toBeLessThan(big.length);
    await expectNothingAt('u/t/part-fails');
  });

  it('aborts the multipart upload on the signal, even while the source waits for data', async () => {
    const abort = new AbortController();
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield* chunked(big.subarray(0, 2 * PART + 7));
      abort.abort(new Error('the client went away'));
      await new Promise(() => {}); // never more data
    }
    await expect(store.putObjectStream('u/t/cut', big.length, stalls(), { signal: abort.signal })).rejects.toThrow(
      'the client went away',
    );
    await expectNothingAt('u/t/cut');
  });

  it('serves byte ranges (206), across part boundaries and to the end', async () => {
    for (const [start, end] of [
      [0, 0],
      [PART - 3, PART + 2],
      [123_456, 3 * PART + 99],
      [big.length - 10, big.length - 1],
    ] as const) {
      const read = await store.getObjectStream('u/t/big.bin', { range: { start, end } });
      expect(read).toMatchObject({ status: 206, contentLength: end - start + 1, totalSize: big.length });
      expect(read.contentRange).toBe(`bytes ${start}-${end}/${big.length}`);
      expect((await bytesOf(read.body)).equals(big.subarray(start, end + 1))).toBe(true);
    }
    const tail = await store.getObjectStream('u/t/big.bin', { range: { start: big.length - 5 } });
    expect((await bytesOf(tail.body)).equals(big.subarray(-5))).toBe(true);
    await expect(store.getObjectStream('u/t/big.bin', { range: { start: big.length } })).rejects.toMatchObject({ code: 'InvalidRange' });
    await expect(store.getObjectStream('u/t/none')).rejects.toMatchObject({ code: 'NoSuchKey' });
  });

  it('lists and deletes by folder prefix, page by page past 1,000 objects, never a sibling folder', async () => {
    const names = Array.from({ length: 1_003 }, (_, i) => `many/task1/f${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(names.slice(i, i + 32).map((name) => store.putObjectStream(name, 1, [Buffer.from('x')])));
    }
    await store.putObjectStream('many/task10/kept', 1, [Buffer.from('y')]);

    const requests: string[] = [];
    const sends = watchSends(store, (command, send) => {
      requests.push((command as object).constructor.name);
      return send();
    });
    try {
      const listed = await collect(store.list('many/task1/'));
      expect(listed.map((o) => o.name)).toEqual(names);
      expect(listed[0]).toMatchObject({ size: 1 });
      expect(requests).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command']);
      requests.length = 0;
      expect(await store.deleteByPrefix('many/task1/')).toBe(names.length);
      expect(requests.filter((r) => r === 'DeleteObjectsCommand')).toHaveLength(2);
    } finally {
      sends.mockRestore();
    }
    expect(await collect(store.list('many/task1/'))).toEqual([]);
    expect((await collect(store.list('many/'))).map((o) => o.name)).toEqual(['many/task10/kept']);
    await expect(store.deleteByPrefix('many/task1')).rejects.toThrow(/must name a folder, ending with "\/"/);
  });

  it('deletes named objects, and takes one that is not there as deleted', async () => {
    for (const name of ['named/a', 'named/b', 'named/c']) await store.putObjectStream(name, 1, [Buffer.from('x')]);
    await store.delete(['named/a', 'named/c', 'named/never-stored']);
    expect((await collect(store.list('named/'))).map((o) => o.name)).toEqual(['named/b']);
    await store.delete([]);
    await expect(store.delete(['../escape'])).rejects.toThrow(/object name must be a relative path/);
  });

  it('finds and aborts open multipart uploads older than a cutoff, under a prefix only', async () => {
    const start = async (key: string) => {
      const { UploadId } = await store.client.send(new CreateMultipartUploadCommand({ Bucket: 'outputs', Key: `cloudai/${key}` }));
      await store.client.send(
        new UploadPartCommand({ Bucket: 'outputs', Key: `cloudai/${key}`, UploadId, PartNumber: 1, Body: Buffer.from('part') }),
      );
      return UploadId;
    };
    const a = await start('stale/t1/a');
    const b = await start('stale/t2/b');
    const other = await start('other/c');
    const open = await collect(store.listOpenMultipartUploads('stale/'));
    expect(open.map((u) => [u.name, u.uploadId])).toEqual([
      ['stale/t1/a', a],
      ['stale/t2/b', b],
    ]);
    expect(await store.abortStaleMultipartUploads('stale/', new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await store.abortStaleMultipartUploads('stale/', new Date(Date.now() + 60_000))).toBe(2);
    expect(await collect(store.listOpenMultipartUploads('stale/'))).toEqual([]);
    expect((await collect(store.listOpenMultipartUploads(''))).map((u) => u.uploadId)).toEqual([other]);
    expect(await store.abortStaleMultipartUploads('other/', new Date(Date.now() + 60_000))).toBe(1);
  });

  it('refuses names that are not plain relative paths', async () => {
    for (const name of ['/abs', 'a/../b', 'a//b', '', 'a/./b', 'dir/']) {
      expect(() => store.putObjectStream(name, 1, [Buffer.from('x')])).toThrow(/object name must be a relative path/);
    }
  });
});
