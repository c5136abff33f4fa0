import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { MAX_DATA_CHUNK_BYTES } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { allocWithFrameRoom } from '@cloudai/proto';
import { notFound } from '@cloudai/rpc';
import type { FileMetadataRecord } from '@cloudai/store';
import { extractToIncoming, type ExtractedFile, type ExtractLimits } from '../extract.js';
import { taskDir } from '../paths.js';
import type { ByteRange, OutputBackend, StagedUpload, Swap, UploadMeta } from './backend.js';

/** How much of a large file is written between background writebacks. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;

/** The name of the working folder under the root; sanitized names can never start with ".". */
export const INCOMING = '.incoming';

/**
 * Task outputs as folders under `root`, the seed's layout
 * `<user>/<task_name>/<secs>/<task_id>/<path>`. Uploads land in
 * `<root>/.incoming` and become visible only by one rename; replacing and
 * deleting move folders back into `.incoming` first, so a reader sees the
 * old tree or the new one, never a mix.
 */
export class FsBackend implements OutputBackend {
  readonly kind = 'fs';
  readonly incoming: string;

  constructor(
    readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly log: Logger,
    /**
     * Makes everything under the root durable before an upload is
     * acknowledged (STORAGE_FSYNC); none when the operator has chosen speed
     * over surviving a power loss.
     */
    private readonly flush?: (path: string) => Promise<void>,
  ) {
    this.incoming = join(root, INCOMING);
  }

  /**
   * Removes what a previous process left in `.incoming` (half-received
   * uploads, folders it was replacing or deleting); the worker retries any
   * upload that did not complete. Then checks the root can be flushed:
   * failing at start, not at the first upload.
   */
  async open(): Promise<number> {
    await mkdir(this.root, { recursive: true });
    const leftovers = await readdir(this.incoming).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    await rm(this.incoming, { recursive: true, force: true });
    await mkdir(this.incoming, { recursive: true });
    await this.flush?.(this.root);
    return leftovers.length;
  }

  async begin(meta: UploadMeta): Promise<StagedUpload> {
    const dir = taskDir(meta.userId, meta.taskName, meta.submittedAt, meta.taskId);
    let tempDir: string | undefined;
    return {
      dir,
      receive: async (source, signal) => {
        const extracted = await extractToIncoming(source, this.incoming, this.limits, {
          signal,
          // With a flush before the acknowledgement, big files are written
          // back while they arrive instead of all at once at the end.
          writebackBytes: this.flush ? WRITEBACK_BYTES : undefined,
        });
        tempDir = extracted.dir;
        return extracted.files;
      },
      install: (files, previous) => this.install(dir, tempDir, files, previous),
      // Gone already when it was published; otherwise it must not linger.
      abort: async () => {
        if (tempDir) await rm(tempDir, { recursive: true, force: true });
      },
    };
  }

  /** Swaps the extracted folder in; the replaced trees go into `.incoming`. */
  private async install(dir: string, tempDir: string | undefined, files: readonly ExtractedFile[], previous: ReadonlySet<string>): Promise<Swap> {
    // Earlier uploads of this task may sit elsewhere if the header's names
    // differed; all of them are replaced.
    const aside = await this.moveAside(new Set([dir, ...previous]));
    const final = join(this.root, dir);
    // An upload of no files stores nothing: no records would point at the
    // folder, so nothing could ever list, download or delete it.
    const publishing = files.length > 0 && tempDir !== undefined;
    try {
      if (publishing) {
        await mkdir(dirname(final), { recursive: true });
        await rename(tempDir, final);
      }
    } catch (err) {
      await this.restore(aside);
      throw err;
    }
    return {
      undo: async () => {
        // Put the previous outputs back so the records still match the disk.
        if (publishing) await rename(final, tempDir).catch(() => {});
        await this.restore(aside);
      },
      commit: () => this.pruneAll(aside),
      // The worker deletes its copy once the upload is acknowledged: the
      // files, their folders and the rename that published them must be on
      // disk first (an upload of no files published nothing).
      settle: async () => {
        if (!this.flush || !publishing) return;
        const started = performance.now();
        await this.flush(this.root);
        this.log.debug({ dir, ms: Math.round(performance.now() - started) }, 'outputs flushed to disk');
      },
      // Removing a large old tree must not hold up other uploads. The
      // replaced trees are already invisible in `.incoming`; even when the
      // flush failed (and the worker will send again) nothing points at them.
      discard: () => removeTrees([...aside.values()]),
    };
  }

  async detach(_taskId: string, dirs: ReadonlySet<string>): Promise<Swap> {
    const aside = await this.moveAside(dirs);
    return {
      undo: () => this.restore(aside),
      commit: () => this.pruneAll(aside),
      settle: async () => {},
      discard: () => removeTrees([...aside.values()]),
    };
  }

  /**
   * The file's bytes in chunks of at most 1 MiB. Each chunk is read into a
   * fresh buffer with room for its message's prefix (see @cloudai/proto's
   * allocWithFrameRoom): it is sent as read, without a copy.
   */
  async *read(record: FileMetadataRecord, { range, signal }: { range?: ByteRange; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const path = this.pathOf(record);
    let position = range?.start ?? 0;
    const end = range?.end === undefined ? Infinity : range.end + 1;
    let fh;
    try {
      // O_NOFOLLOW: stored trees never contain links; refuse one if it appears.
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw notFound(`output file ${JSON.stringify(record.filePath)} of task ${record.taskId} is missing from storage`);
      }
      throw err;
    }
    try {
      while (position < end) {
        signal?.throwIfAborted();
        const want = Math.min(MAX_DATA_CHUNK_BYTES, end - position);
        const buffer = allocWithFrameRoom(want);
        const { bytesRead } = await fh.read(buffer, 0, want, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }

  /** Nothing to sweep while running: every failure removes its own folder, and `open` removes a killed process's. */
  async sweep(): Promise<number> {
    return 0;
  }

  /** The absolute path of a stored file, refusing anything that would resolve outside the root. */
  pathOf(record: FileMetadataRecord): string {
    const abs = resolve(this.root, record.taskDir, record.filePath);
    const rel = relative(this.root, abs);
    if (rel === '' || rel.startsWith('..') || rel.startsWith(INCOMING + sep) || resolve(this.root, rel) !== abs) {
      throw new Error(`file record for task ${record.taskId} points outside the storage root: ${record.filePath}`);
    }
    return abs;
  }

  private async restore(aside: Map<string, string>): Promise<void> {
    for (const [from, to] of aside) {
      await mkdir(dirname(join(this.root, from)), { recursive: true }).catch(() => {});
      await rename(to, join(this.root, from)).catch(() => {});
    }
  }

  /** Renames each existing folder into `.incoming`; returns original → aside. */
  private async moveAside(dirs: ReadonlySet<string>): Promise<Map<string, string>> {
    const aside = new Map<string, string>();
    for (const dir of dirs) {
      const to = join(this.incoming, `old-${randomUUID()}`);
      try {
        await rename(join(this.root, dir), to);
        aside.set(dir, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        // Put back the ones already moved: their records still point at them.
        await this.restore(aside);
        throw err;
      }
    }
    return aside;
  }

  private async pruneAll(aside: Map<string, string>): Promise<void> {
    for (const dir of aside.keys()) await this.pruneParents(dir);
  }

  /** Removes `<user>/<task_name>/<secs>` folders left empty, deepest first. */
  private async pruneParents(dir: string): Promise<void> {
    let parent = posix.dirname(dir);
    while (parent !== '.' && parent !== '/') {
      try {
        await rmdir(join(this.root, parent));
      } catch {
        return; // not empty (or already gone): its ancestors are not empty either
      }
      parent = posix.dirname(parent);
    }
  }
}

async function removeTrees(paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { recursive: true, force: true });
}
