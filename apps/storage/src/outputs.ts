import { posix } from 'node:path';
import type { Logger } from '@cloudai/logger';
import { DomainError, invalidArgument, unavailable } from '@cloudai/rpc';
import type { FileMetadataRecord, FileMetadataStore } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { ByteRange, OutputBackend, StagedUpload, Swap, UploadMeta } from './backends/backend.js';
import type { ExtractedFile } from './extract.js';

export type { UploadMeta } from './backends/backend.js';

export interface StoredOutputs {
  files: ExtractedFile[];
  totalBytes: number;
}

export interface DeletedOutputs {
  files: number;
  bytes: number;
}

/**
 * Task outputs: the bytes in a backend (the local disk or an object store)
 * and their FILE_METADATA records, which are all a reader goes by. Every
 * upload is staged out of sight and published by switching the records,
 * with the backend's install before and its commit after; a delete takes
 * the files out of reach, removes the records, then the files.
 */
export class TaskOutputs {
  /**
   * Publishing and deleting are short (renames or a manifest, and one store
   * call) but must not interleave: two uploads of one task would otherwise
   * both replace "the previous outputs", and a delete pruning an empty
   * parent could race a publish renaming into it. One queue for all tasks
   * is simplest.
   */
  private publishQueue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly backend: OutputBackend,
    private readonly store: FileMetadataStore,
    private readonly log: Logger,
  ) {}

  /**
   * Receives one upload and makes it the task's outputs, replacing any
   * earlier ones. Refusals of the upload itself (hostile entries, quotas)
   * fail with their own status; anything else that goes wrong here (a full
   * disk, a failed flush, the object store, the records) is storage's
   * problem, not the outputs', and fails UNAVAILABLE: the worker keeps its
   * copy and retries.
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
    const staged = await this.backend.begin(meta, signal);
    let files: ExtractedFile[];
    let swap: Swap;
    try {
      files = await staged.receive(source, signal);
      swap = await this.serialized(() => this.publish(meta, staged, files));
    } finally {
      // Whatever was staged and not published must not linger.
      await staged.abort();
    }
    try {
      // Outside the queue, so a flush does not hold up other publishes.
      await swap.settle();
    } finally {
      // Also outside the queue: removing large old outputs must not hold
      // up other uploads; nothing points at them any more.
      await swap.discard();
    }
    return { files, totalBytes: files.reduce((sum, f) => sum + f.size, 0) };
  }

  async list(taskId: string): Promise<FileMetadataRecord[]> {
    return this.store.listFileMetadata(taskId);
  }

  /**
   * A stored file's bytes, or those of `range` (see OutputBackend.read): a
   * range may end past the file (it is cut at the end) and start at its
   * end (no bytes), but not beyond (OUT_OF_RANGE).
   */
  async *read(record: FileMetadataRecord, { range, signal }: { range?: ByteRange; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    if (range) {
      if (!Number.isSafeInteger(range.start) || range.start < 0) {
        throw invalidArgument(`range.start must be a whole number >= 0, got ${range.start}`);
      }
      if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < range.start)) {
        throw invalidArgument(`range.end must be a whole number >= range.start (${range.start}), got ${range.end}`);
      }
      if (range.start > record.fileSize) {
        throw new DomainError(
          Status.OUT_OF_RANGE,
          `range start ${range.start} is past the end of ${JSON.stringify(record.filePath)} (${record.fileSize} bytes)`,
        );
      }
      if (range.start === record.fileSize) return;
      range = { start: range.start, end: Math.min(range.end ?? Infinity, record.fileSize - 1) };
    }
    yield* this.backend.read(record, { range, signal });
  }

  /**
   * Removes the task's files and records; unknown tasks delete nothing.
   * With `storedBefore` (retention), only outputs stored before then: the
   * check runs in the queue, so an upload published while this delete
   * waited is kept.
   */
  async delete(taskId: string, { storedBefore }: { storedBefore?: Date } = {}): Promise<DeletedOutputs> {
    const done = await this.serialized(async () => {
      const records = await this.store.listFileMetadata(taskId);
      if (storedBefore && records.some((r) => r.storedAt.getTime() >= storedBefore.getTime())) return undefined;
      const swap = await this.backend.detach(taskId, new Set(records.map((r) => r.taskDir)));
      try {
        await this.store.deleteFileMetadata(taskId);
      } catch (err) {
        await swap.undo();
        throw err;
      }
      await swap.commit();
      return { swap, deleted: { files: records.length, bytes: records.reduce((sum, r) => sum + r.fileSize, 0) } };
    });
    if (!done) return { files: 0, bytes: 0 };
    await done.swap.discard();
    return done.deleted;
  }

  /** Installs the staged files and switches the records to them; returns the swap to settle and discard. */
  private async publish(meta: UploadMeta, staged: StagedUpload, files: ExtractedFile[]): Promise<Swap> {
    const previous = await this.store.listFileMetadata(meta.taskId);
    const swap = await staged.install(files, new Set(previous.map((r) => r.taskDir)));
    try {
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
          taskDir: staged.dir,
          fileSize: f.size,
          sha256: f.sha256,
          storedAt,
        })),
      );
    } catch (err) {
      await swap.undo();
      throw err;
    }
    await swap.commit();
    this.log.info({ taskId: meta.taskId, dir: staged.dir, files: files.length, replaced: previous.length }, 'outputs stored');
    return swap;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.publishQueue.then(fn, fn);
    this.publishQueue = run.catch(() => {});
    return run;
  }
}
