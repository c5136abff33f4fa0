import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '@cloudai/logger';
import { openSqliteStore } from '@cloudai/store';
import { tempDir } from '@cloudai/testing';
import { describe, expect, it } from 'vitest';
import { syncFilesystem } from './durability.js';
import { extractToIncoming } from './extract.js';
import { FsBackend } from './backends/fs.js';
import { TaskOutputs } from './outputs.js';
import { MiB, SUBMITTED } from './testing/harness.js';
import { chunks, END, file } from './testing/tar.js';

describe('syncFilesystem', () => {
  it('flushes the filesystem of an existing folder', async () => {
    const dir = await tempDir('cloudai-sync-');
    try {
      await expect(syncFilesystem(dir.path)).resolves.toBeUndefined();
    } finally {
      await dir.remove();
    }
  });

  it('names the path when it cannot flush it', async () => {
    await expect(syncFilesystem('/nonexistent/cloudai/folder')).rejects.toThrow(/could not flush \/nonexistent\/cloudai\/folder/);
  });
});

describe('upload durability', () => {
  it('acknowledges only after the published tree has been flushed', async () => {
    const tmp = await tempDir('cloudai-durable-');
    const store = await openSqliteStore(join(tmp.path, 'metadata.db'));
    const root = join(tmp.path, 'root');
    const flushes: { path: string; publishedAtFlush: boolean }[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const final = join(root, 'u', 'exp', String(Math.floor(SUBMITTED.getTime() / 1000)), 't-1', 'out.txt');
    const log = createLogger({ name: 'durability-test', level: 'silent' });
    const backend = new FsBackend(
      root,
      { maxBytes: 1 << 20, maxFiles: 10, maxDepth: 8 },
      log,
      async (path) => {
        // The real flush (syncfs) runs on whatever the rename already made visible.
        flushes.push({ path, publishedAtFlush: existsSync(final) });
        await released;
        await syncFilesystem(path);
      },
    );
    const outputs = new TaskOutputs(backend, store, log);
    try {
      // Makes `.incoming`; without the held flush, which open would wait for.
      await new FsBackend(root, { maxBytes: 1, maxFiles: 1, maxDepth: 1 }, log).open();
      const source = (async function* () {
        yield* chunks(Buffer.concat([file('out.txt', 'hello\n'), END]));
      })();
      let acknowledged = false;
      const upload = outputs
        .upload({ taskId: 't-1', taskName: 'exp', userId: 'u', submittedAt: SUBMITTED, assignmentId: 'a-1' }, source)
        .then((r) => ((acknowledged = true), r));
      await new Promise((r) => setTimeout(r, 200));
      expect(flushes).toEqual([{ path: root, publishedAtFlush: true }]);
      expect(acknowledged).toBe(false);
      release();
      const stored = await upload;
      expect(stored.files.map((f) => f.path)).toEqual(['out.txt']);
    } finally {
      release();
      await store.close();
      await tmp.remove();
    }
  });
});

describe('writeback while extracting', () => {
  it('flushes a large file in the background, every few chunks, while it arrives', async () => {
    const tmp = await tempDir('cloudai-writeback-');
    try {
      const data = randomBytes(3 * MiB + 123);
      const tar = Buffer.concat([file('model.bin', data), END]);
      let sent = 0;
      let allSent = false;
      // The real fdatasync, recorded, and held open (while bytes still
      // arrive) until the test lets it end.
      const writebacks: { sentAtStart: number; synced: Promise<void>; release: () => void; done: boolean }[] = [];
      const datasync = async (fh: FileHandle) => {
        const { promise: released, resolve: release } = Promise.withResolvers<void>();
        const writeback = { sentAtStart: sent, synced: fh.datasync(), release, done: false };
        writebacks.push(writeback);
        if (allSent) release();
        await writeback.synced;
        await released;
        writeback.done = true;
      };
      let flushingWhenAllSent = false;
      const source = (async function* () {
        for (const chunk of chunks(tar, 64 * 1024)) {
          // Each writeback is held while another MiB arrives: the file gets
          // those bytes only if the flush runs beside the writing.
          const current = writebacks.at(-1);
          if (current && sent - current.sentAtStart >= MiB) {
            await current.synced;
            current.release();
          }
          sent += chunk.length;
          yield chunk;
        }
        allSent = true;
        flushingWhenAllSent = writebacks.some((w) => !w.done);
        for (const w of writebacks) w.release();
      })();
      const extracted = await extractToIncoming(
        source,
        tmp.path,
        { maxBytes: 1 << 30, maxFiles: 10, maxDepth: 8 },
        { writebackBytes: 256 * 1024, datasync },
      );
      expect(extracted.files).toEqual([{ path: 'model.bin', size: data.length, sha256: createHash('sha256').update(data).digest('hex') }]);
      expect((await readFile(join(extracted.dir, 'model.bin'))).equals(data)).toBe(true);
      // One writeback per MiB held (3 for 3 MiB) while the file was still
      // arriving, not once at the end; the last still running when every
      // byte had been sent.
      expect(writebacks.filter((w) => w.sentAtStart < tar.length).length).toBeGreaterThanOrEqual(2);
      expect(flushingWhenAllSent).toBe(true);
    } finally {
      await tmp.remove();
    }
  });
});
