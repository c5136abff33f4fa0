import { ObjectStore, type PutResult } from '@cloudai/object-store';
import { requireS3Server } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { extractTar } from '../extract.js';
import { startS3Fixture, TEST_BUCKET, TEST_PREFIX, type S3Fixture } from '../testing/s3.js';
import { END, file } from '../testing/tar.js';
import { S3EntrySink } from './s3-sink.js';

const bin = requireS3Server('the s3 entry sink against VersityGW');
const KiB = 1024;
const LIMITS = { maxBytes: 1 << 30, maxFiles: 10_000, maxDepth: 8 };

describe.skipIf(!bin)('S3EntrySink', () => {
  let s3: S3Fixture;
  let objects: ObjectStore;

  beforeAll(async () => {
    s3 = await startS3Fixture(bin!);
    objects = new ObjectStore({ endpoint: s3.server.endpoint, bucket: TEST_BUCKET, prefix: TEST_PREFIX, region: s3.server.region, forcePathStyle: true });
  });
  afterAll(async () => {
    objects?.destroy();
    await s3?.close();
  });

  it('puts small files in the background, a bounded number and size at once, holding the tar stream back when the bound is reached', async () => {
    // Puts are held until the test lets them go: a slow object store.
    const held: (() => void)[] = [];
    const realPut = objects.putObjectStream.bind(objects);
    const spy = vi.spyOn(objects, 'putObjectStream').mockImplementation(async (...args) => {
      await new Promise<void>((resolve) => held.push(resolve));
      return realPut(...args) as Promise<PutResult>;
    });
    const limits = { smallFileBytes: 64 * KiB, maxInFlight: 4, maxInFlightBytes: 200 * KiB };
    const sink = new S3EntrySink(objects, 'u/t/1/task/attempt', undefined, limits);
    const files = Array.from({ length: 40 }, (_, i) => file(`f${i}.bin`, Buffer.alloc(60 * KiB, i)));
    let pulled = 0;
    async function* source() {
      for (const f of [...files, END]) {
        pulled += f.length;
        yield f;
      }
    }
    try {
      const extracting = extractTar(source(), sink, LIMITS);
      // Three 60 KiB files fit the 200 KiB bound; then the fourth waits, and the stream with it.
      await vi.waitFor(() => expect(held.length).toBe(3));
      await new Promise((r) => setTimeout(r, 200));
      expect(held.length).toBe(3);
      const before = pulled;
      expect(before).toBeLessThan(files.reduce((sum, f) => sum + f.length, 0) / 2);
      // Letting puts finish lets the stream go on, never more than the bound in flight.
      let done = false;
      const finished = extracting.then(async (extracted) => {
        await sink.flush();
        done = true;
        return extracted;
      });
      let maxHeld = 0;
      while (!done) {
        maxHeld = Math.max(maxHeld, held.length);
        held.shift()?.();
        await new Promise((r) => setTimeout(r, 5));
      }
      const extracted = await finished;
      expect(maxHeld).toBeLessThanOrEqual(3);
      expect(extracted).toHaveLength(40);
      const stored: string[] = [];
      for await (const o of objects.list('u/t/1/task/attempt/')) stored.push(o.name);
      expect(stored).toHaveLength(40);
    } finally {
      spy.mockRestore();
      while (held.length > 0) held.shift()?.();
    }
  });

  it('fails the upload with the first failed put, and stops the others', async () => {
    const spy = vi.spyOn(objects, 'putObjectStream').mockRejectedValueOnce(new Error('the object store refused'));
    const sink = new S3EntrySink(objects, 'u/t/1/task/failing', undefined);
    try {
      const parts = [...Array.from({ length: 5 }, (_, i) => file(`f${i}`, 'x')), END];
      await expect(
        (async () => {
          await extractTar(
            (async function* () {
              yield* parts;
            })(),
            sink,
            LIMITS,
          );
          await sink.flush();
        })(),
      ).rejects.toThrow(/the object store refused/);
    } finally {
      spy.mockRestore();
    }
  });
});
