import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, type TempDir } from '@cloudai/testing';
import { packFolder } from './tar-pack.js';

interface Entry {
  path: string;
  type: string;
  size: number;
  linkpath?: string;
  sha256?: string;
}

/** Parses a tar with node-tar, as storage does. */
async function parse(chunks: Buffer[]): Promise<Entry[]> {
  const entries: Entry[] = [];
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: ReadEntry) => {
    const hash = createHash('sha256');
    entry.on('data', (b: Buffer) => hash.update(b));
    entry.on('end', () =>
      entries.push({
        // a folder's trailing slash does not survive ustar's prefix split; the type says it
        path: entry.type === 'Directory' ? entry.path.replace(/\/$/, '') : entry.path,
        type: entry.type,
        size: entry.size,
        ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
        ...(entry.type === 'File' ? { sha256: hash.digest('hex') } : {}),
      }),
    );
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
  });
  for (const c of chunks) parser.write(c);
  parser.end();
  await ended;
  return entries;
}

async function collect(folder: string, chunkBytes: number, skipped: string[] = []): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of packFolder(folder, chunkBytes, { onSkipped: (p, kind) => skipped.push(`${p}: ${kind}`) })) {
    chunks.push(Buffer.from(c));
  }
  return chunks;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('packFolder', () => {
  let src: TempDir;
  const big = randomBytes(300_000); // over the blocking-read limit: read asynchronously
  const longName = `${'n'.repeat(90)}-${'m'.repeat(60)}.txt`; // > 100 bytes: ustar prefix split
  const deepPath = Array.from({ length: 6 }, (_, i) => `level-${i}-${'d'.repeat(50)}`).join('/'); // > 255: PAX

  beforeAll(async () => {
    src = await tempDir('cloudai-pack-');
    const d = src.path;
    await mkdir(join(d, 'models', 'v1'), { recursive: true });
    await mkdir(join(d, 'empty-dir'));
    await mkdir(join(d, deepPath), { recursive: true });
    await writeFile(join(d, 'models', 'v1', 'weights.bin'), big);
    await writeFile(join(d, 'empty.txt'), '');
    await writeFile(join(d, 'block.bin'), Buffer.alloc(512, 1));
    await writeFile(join(d, 'block+1.bin'), Buffer.alloc(513, 2));
    await writeFile(join(d, longName), 'long\n');
    await writeFile(join(d, deepPath, 'leaf.txt'), 'deep\n');
    await writeFile(join(d, 'résumé-数据.txt'), 'unicode\n');
    await link(join(d, 'block.bin'), join(d, 'hardlink.bin'));
    await symlink('/etc/passwd', join(d, 'escape'));
    execFileSync('mkfifo', [join(d, 'pipe')]);
  });
  afterAll(() => src.remove());

  it('packs every folder and file in name order, with exact contents, and skips links, FIFOs and the like', async () => {
    const skipped: string[] = [];
    const entries = await parse(await collect(src.path, 1024 * 1024, skipped));
    const deepFolders = deepPath.split('/').map((_, i, all) => ({ path: all.slice(0, i + 1).join('/'), type: 'Directory', size: 0 }));
    expect(entries).toEqual([
      { path: '.', type: 'Directory', size: 0 },
      { path: 'block+1.bin', type: 'File', size: 513, sha256: sha(Buffer.alloc(513, 2)) },
      { path: 'block.bin', type: 'File', size: 512, sha256: sha(Buffer.alloc(512, 1)) },
      { path: 'empty-dir', type: 'Directory', size: 0 },
      { path: 'empty.txt', type: 'File', size: 0, sha256: sha('') },
      // a hard link is sent as the file it is
      { path: 'hardlink.bin', type: 'File', size: 512, sha256: sha(Buffer.alloc(512, 1)) },
      deepFolders[0],
      { path: 'models', type: 'Directory', size: 0 },
      { path: longName, type: 'File', size: 5, sha256: sha('long\n') },
      { path: 'résumé-数据.txt', type: 'File', size: 8, sha256: sha('unicode\n') },
      ...deepFolders.slice(1),
      { path: `${deepPath}/leaf.txt`, type: 'File', size: 5, sha256: sha('deep\n') },
      { path: 'models/v1', type: 'Directory', size: 0 },
      { path: 'models/v1/weights.bin', type: 'File', size: big.length, sha256: sha(big) },
    ]);
    expect(skipped).toEqual(['escape: symbolic link', 'pipe: FIFO']);
  });

  it('cuts the archive into chunks of exactly the size asked for, whatever it is', async () => {
    const whole = Buffer.concat(await collect(src.path, 1024 * 1024));
    for (const size of [100, 511, 1000, 4096, 65_536]) {
      const chunks = await collect(src.path, size);
      expect(chunks.slice(0, -1).every((c) => c.length === size)).toBe(true);
      expect(chunks.at(-1)!.length).toBeGreaterThan(0);
      expect(chunks.at(-1)!.length).toBeLessThanOrEqual(size);
      expect(Buffer.concat(chunks).equals(whole)).toBe(true);
    }
    // whole 512-byte blocks, ending in two zero blocks
    expect(whole.length % 512).toBe(0);
    expect(whole.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
  });

  it('is read by GNU tar as the same tree', async () => {
    const out = await tempDir('cloudai-pack-gnu-');
    try {
      const archive = join(out.path, 'a.tar');
      await writeFile(archive, Buffer.concat(await collect(src.path, 65_536)));
      await mkdir(join(out.path, 'x'));
      execFileSync('tar', ['-xf', archive, '-C', join(out.path, 'x')]);
      expect((await readFile(join(out.path, 'x', 'models', 'v1', 'weights.bin'))).equals(big)).toBe(true);
      expect(await readFile(join(out.path, 'x', deepPath, 'leaf.txt'), 'utf8')).toBe('deep\n');
      expect(await readFile(join(out.path, 'x', longName), 'utf8')).toBe('long\n');
    } finally {
      await out.remove();
    }
  });

  it('packs an empty folder as an archive of just the folder itself', async () => {
    const empty = await tempDir('cloudai-pack-empty-');
    try {
      const chunks = await collect(empty.path, 4096);
      expect(await parse(chunks)).toEqual([{ path: '.', type: 'Directory', size: 0 }]);
      expect(Buffer.concat(chunks).length).toBe(512 + 1024);
    } finally {
      await empty.remove();
    }
  });

  it('carries odd but valid names and times whole: newlines in long names, byte order, times before 1970', async () => {
    const dir = await tempDir('cloudai-pack-odd-');
    try {
      // Long enough to need more than ustar's name field; PAX would carry it
      // in a record that node-tar drops for the newline.
      const newline = `${'x'.repeat(110)}\nfinal.csv`;
      const shortNewline = 'two\nlines.txt';
      await writeFile(join(dir.path, newline), 'a');
      await writeFile(join(dir.path, shortNewline), 'b');
      // UTF-16 order puts the emoji (surrogates) first; UTF-8 byte order puts it last.
      await writeFile(join(dir.path, '\u{1F600}.txt'), 'c');
      await writeFile(join(dir.path, '\uFF21.txt'), 'd');
      const old = join(dir.path, 'old.txt');
      await writeFile(old, 'e');
      await utimes(old, -1.3, -1.3); // 1969-12-31T23:59:58.7Z
      const entries = await parse(await collect(dir.path, 65_536));
      expect(entries.map((e) => e.path)).toEqual(['.', 'old.txt', shortNewline, newline, '\uFF21.txt', '\u{1F600}.txt']);
      expect(entries.find((e) => e.path === newline)).toMatchObject({ size: 1, sha256: sha('a') });
    } finally {
      await dir.remove();
    }
  });

  it('skips a name that is not UTF-8, reporting it, and packs the rest', async () => {
    const dir = await tempDir('cloudai-pack-latin1-');
    try {
      execFileSync('sh', ['-c', 'printf x > "$1/caf$(printf "\\351").txt"', 'sh', dir.path]);
      await writeFile(join(dir.path, 'ok.txt'), 'ok');
      const skipped: string[] = [];
      const entries = await parse(await collect(dir.path, 4096, skipped));
      expect(entries.map((e) => e.path)).toEqual(['.', 'ok.txt']);
      expect(skipped).toEqual(['caf\uFFFD.txt: name that is not UTF-8']);
    } finally {
      await dir.remove();
    }
  });

  it('reads only as the consumer pulls, and fails if a file shrinks under it', async () => {
    const dir = await tempDir('cloudai-pack-shrink-');
    try {
      await writeFile(join(dir.path, 'data.bin'), randomBytes(200_000));
      const packer = packFolder(dir.path, 4096);
      const first = await packer.next();
      expect(first.done).toBe(false);
      await truncate(join(dir.path, 'data.bin'), 10_000);
      await expect(
        (async () => {
          for (;;) if ((await packer.next()).done) return;
        })(),
      ).rejects.toThrow(/data\.bin shrank from 200000 to \d+ bytes/);
    } finally {
      await dir.remove();
    }
  });
});
