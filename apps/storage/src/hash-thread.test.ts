import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { HashThread, THREAD_HASH_MIN_BYTES } from './hash-thread.js';

const MiB = 1024 * 1024;
const thread = new HashThread();
afterAll(() => thread.stop());

describe('HashThread', () => {
  it('hashes large files on its thread and small ones inline, both as createHash does', async () => {
    for (const size of [THREAD_HASH_MIN_BYTES - 1, 20 * MiB + 3]) {
      const expected = createHash('sha256');
      const hash = thread.forFile(size);
      for (let at = 0; at < size; at += MiB) {
        // A view into a larger buffer: only its own bytes count.
        const whole = Buffer.alloc(MiB + 32, at / MiB);
        const chunk = whole.subarray(16, 16 + Math.min(MiB, size - at));
        expected.update(chunk);
        hash.update(chunk);
        // The caller's bytes stay its own.
        expect(chunk.length).toBe(Math.min(MiB, size - at));
        await hash.caughtUp();
      }
      expect(await hash.digest()).toBe(expected.digest('hex'));
    }
  });

  it('keeps files apart when they interleave', async () => {
    const a = thread.forFile(2 * MiB);
    const b = thread.forFile(2 * MiB);
    const one = Buffer.alloc(2 * MiB, 1);
    const two = Buffer.alloc(2 * MiB, 2);
    a.update(one);
    b.update(two);
    expect(await b.digest()).toBe(createHash('sha256').update(two).digest('hex'));
    expect(await a.digest()).toBe(createHash('sha256').update(one).digest('hex'));
  });

  it('fails a file still being hashed when stopped, and starts a new thread for a later one', async () => {
    const own = new HashThread();
    const cut = own.forFile(4 * MiB);
    cut.update(Buffer.alloc(MiB, 3));
    const digest = cut.digest().then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    // A file not yet at its digest when the thread stops fails at its digest, and never waits.
    const midway = own.forFile(8 * MiB);
    midway.update(Buffer.alloc(6 * MiB, 5));
    await own.stop();
    expect(await digest).toMatch(/stopped/);
    midway.update(Buffer.alloc(MiB, 5));
    await midway.caughtUp();
    await expect(midway.digest()).rejects.toThrow(/stopped/);
    // A stop is not a failure: later large files are hashed on a thread again.
    expect(own.failed).toBe(false);
    const later = own.forFile(2 * MiB);
    const bytes = Buffer.alloc(2 * MiB, 4);
    later.update(bytes);
    expect(await later.digest()).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(own.failed).toBe(false);
    await own.stop();
  });
});
