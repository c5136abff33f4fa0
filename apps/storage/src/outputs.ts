import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import type { Logger } from '@cloudai/logger';
import { DomainError, unavailable } from '@cloudai/rpc';
import type { FileMetadataRecord, FileMetadataStore } from '@cloudai/store';
import { extractToIncoming, type ExtractLimits, type ExtractedFile } from './extract.js';
import { taskDir } from './paths.js';

/** How much of a large file is written between background writebacks. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;

/** The name of the working folder under the root; sanitized names can never start with ".". */
export const INCOMING = '.incoming';

export interface UploadMeta {
  taskId: string;
  taskName: string;
  userId: string;
  submittedAt: Date;
  assignmentId: string;
}

export interface StoredOutputs {
  files: ExtractedFile[];
  totalBytes: number;
}

export interface DeletedOutputs {
  files: number;
  bytes: number;
}

/**
 * The task output folders under `root` and their FILE_METADATA records.
 * Uploads land in `<root>/.incoming` and become visible only by one rename;
 * replacing and deleting move folders back into `.incoming` first, so a
 * reader sees the old tree or the new one, never a mix.
 */
export class TaskOutputs {
  readonly incoming: string;
  /**
   * Publishing and deleting are short (renames and one store call) but must
   * not interleave: two uploads of one task would otherwise both move "the
   * previous folder" aside, and a delete pruning an empty parent could race
   * a publish renaming into it. One queue for all tasks is simplest.
   */
  private publishQueue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly root: string,
    private readonly store: FileMetadataStore,
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
   * upload that did not complete.
   */
  async cleanIncoming(): Promise<number> {
    await mkdir(this.root, { recursive: true });
    const leftovers = await readdir(this.incoming).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    await rm(this.incoming, { recursive: true, force: true });
    await mkdir(this.incoming, { recursive: true });
    return leftovers.length;
  }

  /**
   * Receives one upload and makes it the task's outputs, replacing any
   * earlier ones. Refusals of the upload itself (hostile entries, quotas)
   * fail with their own status; anything else that goes wrong here (a full
   * disk, a failed flush, the store) is storage's problem, not the
   * outputs', and fails UNAVAILABLE: the worker keeps its copy and retries.
   */
  async upload(meta: UploadMeta, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<StoredOutputs> {
    try {
      return await this.receive(meta, source, signal);
    } catch (err) {
      if (err instanceof DomainError || signal?.aborted) throw err;
      this.log.error({ taskId: meta.taskId, assignmentId: meta.assignmentId, err }, 'could not store outputs');
      const code = (err as NodeJS.ErrnoException).code;
      throw unavailable(`storage could not store the outputs (${code ?? (err as Error).message}); send them again later`);
    }
  }

  private async receive(meta: UploadMeta, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<StoredOutputs> {
    const extracted = await extractToIncoming(source, this.incoming, this.limits, {
      signal,
      // With a flush before the acknowledgement, big files are written back
      // while they arrive instead of all at once at the end.
      writebackBytes: this.flush ? WRITEBACK_BYTES : undefined,
    });
    let replaced: string[];
    try {
      replaced = await this.serialized(() => this.publish(meta, extracted.dir, extracted.files));
    } finally {
      // Gone already when it was published; otherwise it must not linger.
      await rm(extracted.dir, { recursive: true, force: true });
    }
    try {
      // The worker deletes its copy once this returns: the files, their
      // folders and the rename that published them must be on disk first
      // (an upload of no files published nothing).
      // Outside the queue, so a flush does not hold up other publishes.
      if (this.flush && extracted.files.length > 0) {
        const started = performance.now();
        await this.flush(this.root);
        this.log.debug({ taskId: meta.taskId, ms: Math.round(performance.now() - started) }, 'outputs flushed to disk');
      }
    } finally {
      // Also outside the queue: removing a large old tree must not hold up
      // other uploads. The replaced trees are already invisible in
      // `.incoming`; even when the flush failed (and the worker will send
      // again) nothing points at them any more.
      await removeTrees(replaced);
    }
    return { files: extracted.files, totalBytes: extracted.totalBytes };
  }

  async list(taskId: string): Promise<FileMetadataRecord[]> {
    return this.store.listFileMetadata(taskId);
  }

  /**
   * Removes the task's folder(s) and records; unknown tasks delete nothing.
   * With `storedBefore` (retention), only outputs stored before then: the
   * check runs in the queue, so an upload published while this delete
   * waited is kept.
   */
  async delete(taskId: string, { storedBefore }: { storedBefore?: Date } = {}): Promise<DeletedOutputs> {
    return this.serialized(async () => {
      const records = await this.store.listFileMetadata(taskId);
      if (storedBefore && records.some((r) => r.storedAt.getTime() >= storedBefore.getTime())) {
        return { aside: new Map<string, string>(), deleted: { files: 0, bytes: 0 } };
      }
      const aside = await this.moveAside(new Set(records.map((r) => r.taskDir)));
      try {
        await this.store.deleteFileMetadata(taskId);
      } catch (err) {
        await this.restore(aside);
        throw err;
      }
      await this.pruneAll(aside);
      return { aside, deleted: { files: records.length, bytes: records.reduce((sum, r) => sum + r.fileSize, 0) } };
    }).then(async ({ aside, deleted }) => {
      await removeTrees([...aside.values()]);
      return deleted;
    });
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

  /** Swaps the extracted folder in and the records; returns the replaced trees, now in `.incoming`. */
  private async publish(meta: UploadMeta, tempDir: string, files: ExtractedFile[]): Promise<string[]> {
    const dir = taskDir(meta.userId, meta.taskName, meta.submittedAt, meta.taskId);
    // Earlier uploads of this task may sit elsewhere if the header's names
    // differed; all of them are replaced.
    const previous = await this.store.listFileMetadata(meta.taskId);
    const oldDirs = new Set([dir, ...previous.map((r) => r.taskDir)]);
    const aside = await this.moveAside(oldDirs);
    const final = join(this.root, dir);
    // An upload of no files stores nothing: no records would point at the
    // folder, so nothing could ever list, download or delete it.
    const publishing = files.length > 0;
    try {
      if (publishing) {
        await mkdir(dirname(final), { recursive: true });
        await rename(tempDir, final);
      }
      const storedAt = new Date();
      await this.store.replaceFileMetadata(
        meta.taskId,
        files.map((f) => ({
          taskId: meta.taskId,
          taskName: meta.taskName,
          userId: meta.userId,
          submittedAt: meta.submittedAt,
          assignmentId: meta.assignmentId,
          fileName: posix.basename(f.path),
          filePath: f.path,
          taskDir: dir,
          fileSize: f.size,
          sha256: f.sha256,
          storedAt,
        })),
      );
    } catch (err) {
      // Put the previous outputs back so the records still match the disk.
      if (publishing) await rename(final, tempDir).catch(() => {});
      await this.restore(aside);
      throw err;
    }
    await this.pruneAll(aside);
    this.log.info({ taskId: meta.taskId, dir, files: files.length, replaced: aside.size }, 'outputs stored');
    return [...aside.values()];
  }

  private async restore(aside: Map<string, string>): Promise<void> {
    for (const [from, to] of aside) {
      await mkdir(dirname(join(this.root, from)), { recursive: true }).catch(() => {});
      await rename(to, join(this.root, from)).catch(() => {});
    }
  }

  /** Renames each existing folder into `.incoming`; returns original → aside. */
  private async moveAside(dirs: Set<string>): Promise<Map<string, string>> {
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

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.publishQueue.then(fn, fn);
    this.publishQueue = run.catch(() => {});
    return run;
  }
}

async function removeTrees(paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { recursive: true, force: true });
}
