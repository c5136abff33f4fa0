import { createHash } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir, type TempDir } from '@cloudai/testing';
import { extractTar } from './extract.js';
import { MiB } from './testing/harness.js';
import { END, file, header } from './testing/tar.js';

const limits = { maxBytes: 1024 * MiB, maxFiles: 100, maxDepth: 16 };

/** Files under `dir` this process holds open. */
async function openFilesUnder(dir: string): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => t.startsWith(`${dir}/`));
}

describe('extractTar', () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir('cloudai-extract-');
  });
  afterEach(() => dir.remove());

  it('closes the file it was writing when the source fails mid-file (a dropped connection)', async () => {
    async function* dropped() {
      yield Buffer.concat([file('small.txt', 'ok'), header({ name: 'big.bin', size: 8 * MiB })]);
      yield Buffer.alloc(MiB, 7);
      yield Buffer.alloc(MiB, 7);
      throw new Error('connection reset');
    }
    await expect(extractTar(dropped(), dir.path, limits)).rejects.toThrow('connection reset');
    expect(await openFilesUnder(dir.path)).toEqual([]);
  });

  it('closes the file it was writing when the upload is aborted mid-file', async () => {
    const abort = new AbortController();
    async function* cancelled() {
      yield header({ name: 'big.bin', size: 8 * MiB });
      yield Buffer.alloc(MiB, 7);
      abort.abort(new Error('client cancelled'));
      yield Buffer.alloc(MiB, 7);
    }
    await expect(extractTar(cancelled(), dir.path, limits, { signal: abort.signal })).rejects.toThrow('client cancelled');
    expect(await openFilesUnder(dir.path)).toEqual([]);
  });

  it('keeps memory flat whatever the size: 384 MiB pass through with far less than that held', async () => {
    const size = 384 * MiB;
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    async function* upload() {
      yield header({ name: 'big.bin', size });
      for (let i = 0; i < size / MiB; i++) {
        // A fresh buffer per message, as gRPC delivers them.
        yield Buffer.allocUnsafe(MiB).fill(i & 0xff);
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      }
      yield END;
    }
    const files = await extractTar(upload(), dir.path, limits);
    expect(files).toEqual([expect.objectContaining({ path: 'big.bin', size })]);
    // Garbage awaiting collection is part of this (V8 collects after ~64 MiB
    // of new buffers); a chunk held per message would put it over 384 MiB.
    expect(peak).toBeLessThan(192 * MiB);
  });

  it('releases each message once its bytes are written and hashed: a few are held, not the garbage of all', async () => {
    const size = 64 * MiB;
    const base = process.memoryUsage().arrayBuffers;
    const sent: Buffer[] = [];
    let peak = 0;
    const expected = createHash('sha256');
    async function* upload() {
      yield header({ name: 'big.bin', size });
      for (let i = 0; i < size / MiB; i++) {
        const message = Buffer.allocUnsafe(MiB).fill(i & 0xff);
        expected.update(message);
        sent.push(message);
        yield message;
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      }
      // A small file after the big one, in a message of its own.
      yield Buffer.concat([file('after.txt', 'after'), END]);
    }
    const files = await extractTar(upload(), dir.path, limits);
    expect(files).toEqual([
      { path: 'big.bin', size, sha256: expected.digest('hex') },
      expect.objectContaining({ path: 'after.txt', size: 5 }),
    ]);
    expect(createHash('sha256').update(await readFile(join(dir.path, 'big.bin'))).digest('hex')).toBe(files[0]!.sha256);
    // Without release, the dead messages wait for the collector (~64 MiB).
    expect(peak).toBeLessThan(16 * MiB);
    expect(sent.every((m) => m.length === 0)).toBe(true);
  });

  it('extracts a well-formed archive and reports sizes and hashes', async () => {
    async function* source() {
      yield Buffer.concat([file('a.txt', 'alpha'), file('b/c.txt', ''), END]);
    }
    const files = await extractTar(source(), dir.path, limits);
    expect(files.map((f) => [f.path, f.size])).toEqual([
      ['a.txt', 5],
      ['b/c.txt', 0],
    ]);
    expect(await openFilesUnder(dir.path)).toEqual([]);
  });
});
