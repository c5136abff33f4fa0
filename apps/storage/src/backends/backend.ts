import type { FileMetadataRecord } from '@cloudai/store';
import type { ExtractedFile } from '../extract.js';

/** Who and what an upload is for, from the master's grant. */
export interface UploadMeta {
  taskId: string;
  taskName: string;
  userId: string;
  submittedAt: Date;
  assignmentId: string;
}

/** An inclusive byte range of a stored file, as in HTTP's `Range: bytes=start-end`; no end: to the end of the file. */
export interface ByteRange {
  start: number;
  end?: number;
}

/**
 * Where task outputs are kept: the local disk (fs) or an object store (s3).
 * TaskOutputs (outputs.ts) owns FILE_METADATA and the order of every step;
 * a backend owns the bytes. Publishing and deleting are two-phase around
 * the records' switch, so that readers, who find files only through the
 * records, see the old outputs or the new ones and never a mix:
 *
 *   upload:  begin → receive → install → (records switched) → commit → settle, discard
 *   delete:  detach → (records removed) → commit → discard
 *
 * and `undo` when the records could not be switched.
 */
export interface OutputBackend {
  readonly kind: 'fs' | 's3';
  /**
   * Readies the backend before storage serves (the folder flushable, the
   * bucket reachable) and removes what a killed process left that nobody
   * else can be using; returns how many leftovers it removed.
   */
  open(): Promise<number>;
  /** Starts receiving one upload of `meta`'s task, out of every reader's sight. */
  begin(meta: UploadMeta, signal?: AbortSignal): Promise<StagedUpload>;
  /** Takes the task's stored outputs at `dirs` (its records' taskDir) out of reach, for a delete. */
  detach(taskId: string, dirs: ReadonlySet<string>): Promise<Swap>;
  /**
   * The bytes of a stored file (or of `range` of it), in chunks of at most
   * 1 MiB, read only as fast as they are pulled. Fails NOT_FOUND when the
   * file is missing.
   */
  read(record: FileMetadataRecord, options: { range?: ByteRange; signal?: AbortSignal }): AsyncIterable<Buffer>;
  /**
   * Removes leftovers of uploads and deletes that no process will finish
   * (on s3: staged objects and multipart uploads older than a day); run
   * periodically. Returns how many it removed.
   */
  sweep(now?: Date): Promise<number>;
}

/** One upload being received. */
export interface StagedUpload {
  /** The taskDir its records will hold: where readers find its files. */
  readonly dir: string;
  /**
   * Reads the tar stream into staged files, every entry checked as hostile
   * input (extract.ts); on failure whatever it staged is still to be
   * removed by `abort`.
   */
  receive(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ExtractedFile[]>;
  /**
   * Puts the received files where the records will point (fs: renames the
   * folder into place; s3: writes the manifest) and takes the outputs at
   * `previous` (the records' current taskDirs) out of reach. Runs in the
   * publish queue, just before the records are switched.
   */
  install(files: readonly ExtractedFile[], previous: ReadonlySet<string>): Promise<Swap>;
  /** Removes everything of this upload that was not published; safe to call after a publish, and more than once. */
  abort(): Promise<void>;
}

/** The outcome of install or detach, finished once the records have (or have not) been switched. */
export interface Swap {
  /** The records could not be switched: put everything back as it was. */
  undo(): Promise<void>;
  /** The records switched: quick tidying inside the publish queue. */
  commit(): Promise<void>;
  /** Outside the queue: makes what was published durable before the upload is acknowledged; may fail. */
  settle(): Promise<void>;
  /** Outside the queue: removes the replaced or deleted outputs, now unreachable. */
  discard(): Promise<void>;
}
