import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipWriter } from './zip-writer.js';

const run = promisify(execFile);
let dir: TempDir;

beforeAll(async () => {
  dir = await tempDir('cloudai-zip-');
});
afterAll(async () => {
  await dir?.remove();
});

/** Writes a zip of `entries` to a file through the writer, as the HTTP answer would stream it. */
async function zipFile(name: string, entries: Iterable<[string, Buffer[]]>): Promise<string> {
  const path = join(dir.path, name);
  const file = await open(path, 'w');
  const zip = new ZipWriter(async (bytes) => {
    await file.write(bytes);
  });
  const when = new Date('2025-06-01T12:34:56Z');
  for (const [entry, chunks] of entries) {
    await zip.begin(entry, chunks.reduce((n, c) => n + c.length, 0), when);
    for (const chunk of chunks) await zip.data(chunk);
    await zip.end();
  }
  await zip.finish();
  await file.close();
  return path;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ZipWriter', () => {
  it('writes STOREd entries with data descriptors that unzip reads back byte for byte', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const files: [string, Buffer[]][] = [
      ['a.txt', [Buffer.from('hello\n')]],
      ['empty', []],
      ['sub/dir/big.bin', [big.subarray(0, 1000), big.subarray(1000)]],
      ['naïve ☃.txt', [Buffer.from('unicode name')]],
    ];
    const path = await zipFile('plain.zip', files);
    await run('unzip', ['-t', path]);
    const { stdout: names } = await run('unzip', ['-Z1', path]);
    expect(names.trim().split('\n')).toEqual(files.map(([name]) => name));
    for (const [name, chunks] of files) {
      const { stdout } = await run('unzip', ['-p', path, name], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
      expect(sha256(stdout), name).toBe(sha256(Buffer.concat(chunks)));
    }
    const { stdout: verbose } = await run('zipinfo', ['-v', path, 'a.txt']);
    expect(verbose).toMatch(/compression method:\s+none \(stored\)/);
    expect(verbose).toMatch(/2025 Jun 1 12:34:56/);
  });

  it('switches to zip64 records past 65535 entries', async () => {
    const count = 65_600;
    function* entries(): Iterable<[string, Buffer[]]> {
      for (let i = 0; i < count; i++) yield [`f/${i}`, [Buffer.from(String(i))]];
    }
    const path = await zipFile('many.zip', entries());
    const { stdout } = await run('unzip', ['-Z1', path], { maxBuffer: 64 * 1024 * 1024 });
    const names = stdout.trim().split('\n');
    expect(names).toHaveLength(count);
    expect(names.at(-1)).toBe(`f/${count - 1}`);
    const { stdout: last } = await run('unzip', ['-p', path, `f/${count - 1}`]);
    expect(last).toBe(String(count - 1));
  });

  it('refuses an entry whose bytes do not add up to its declared size', async () => {
    const zip = new ZipWriter(async () => {});
    await zip.begin('x', 3, new Date());
    await zip.data(Buffer.from('ab'));
    await expect(zip.end()).rejects.toThrow('ended after 2 of its 3 bytes');
    await expect(zip.data(Buffer.from('abcd'))).rejects.toThrow('more than its 3 bytes');
  });
});
