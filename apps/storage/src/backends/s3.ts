import { randomBytes } from 'node:crypto';
import { MAX_DATA_CHUNK_BYTES } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import { ObjectStoreError, type ObjectStore } from '@cloudai/object-store';
import { allocWithFrameRoom } from '@cloudai/proto';
import { notFound } from '@cloudai/rpc';
import type { FileMetadataRecord, FileMetadataStore } from '@cloudai/store';
import { extractTar, type ExtractedFile, type ExtractLimits } from '../extract.js';
import { taskDir } from '../paths.js';
import type { ByteRange, OutputBackend, StagedUpload, Swap, UploadMeta } from './backend.js';
import { DEFAULT_S3_SINK_LIMITS, S3EntrySink, type S3SinkLimits } from './s3-sink.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Where the pending markers live, beside the task folders under S3_PREFIX.
 * Sanitized names never start with ".", so no user's folder can be it.
 */
export const STAGING = '.staging';

/** An attempt's segment: when it began (UTC) and 12 random hex digits, e.g. 20261201T174042Z-3f9ac01b77e2. */
const ATTEMPT = /^\d{8}T\d{6}Z-[0-9a-f]{12}$/;

/** What a pending marker holds: the attempt folder, and the task whose records may point at it. */
interface Marker {
  taskId: string;
  dir: string;
}

/** The manifest of a published attempt, written last: what its objects are. */
export interface Manifest {
  version: 1;
  taskId: string;
  userId: string;
  taskName: string;
  submittedAt: string;
  assignmentId: string;
  dir: string;
  files: { path: string; object: string; size: number; sha256: string }[];
}

export interface S3BackendOptions {
  /** staged objects and multipart uploads older than this are leftovers; default a day */
  staleAfterMs?: number;
  sink?: S3SinkLimits;
}

/**
 * Task outputs as objects in an S3-compatible store, one object per file.
 *
 * Layout, under S3_PREFIX: every upload attempt gets its own folder in the
 * task's seed-layout folder, and its files are written there once, never
 * copied or moved (S3 has no rename):
 *
 *   <user>/<task_name>/<secs>/<task_id>/<attempt>/<path>    the files
 *   <user>/<task_name>/<secs>/<task_id>/<attempt>.manifest.json   written last
 *   .staging/<attempt>                                       a pending marker
 *
 * FILE_METADATA's taskDir is `<user>/<task_name>/<secs>/<task_id>/<attempt>`.
 * Publishing writes the manifest, then switches the records to the attempt
 * folder: readers go by the records, so they see only published attempts,
 * whole. A failed or cut upload aborts its multipart uploads and deletes
 * its objects; a retry is a new attempt, and once the records point at it
 * the replaced attempt's objects are deleted: one copy of the outputs,
 * never two.
 *
 * The pending marker, written when an attempt begins and again for every
 * attempt a publish replaces or a delete removes, is the safety net for a
 * process that dies (or an object store that fails) before it could clean
 * up: the sweep deletes each attempt whose marker is older than a day and
 * which no record points at, then the marker. A published attempt keeps
 * its marker until then, which also catches two replicas publishing the
 * same task at once (the loser's attempt is swept).
 */
export class S3Backend implements OutputBackend {
  readonly kind = 's3';
  private readonly staleAfterMs: number;
  private readonly sinkLimits: S3SinkLimits;

  constructor(
    readonly objects: ObjectStore,
    private readonly store: FileMetadataStore,
    private readonly limits: ExtractLimits,
    private readonly log: Logger,
    options: S3BackendOptions = {},
  ) {
    this.staleAfterMs = options.staleAfterMs ?? DAY_MS;
    this.sinkLimits = options.sink ?? DEFAULT_S3_SINK_LIMITS;
  }

  /** Fails unless the bucket is there and these credentials reach it. Leftovers are the sweep's: other replicas may be uploading. */
  async open(): Promise<number> {
    await this.objects.checkBucket({ signal: AbortSignal.timeout(30_000) });
    return 0;
  }

  async begin(meta: UploadMeta, signal?: AbortSignal): Promise<StagedUpload> {
    const attempt = newAttempt();
    const dir = `${taskDir(meta.userId, meta.taskName, meta.submittedAt, meta.taskId)}/${attempt}`;
    await this.mark([dir], meta.taskId, signal);
    const sink = new S3EntrySink(this.objects, dir, signal, this.sinkLimits);
    let published = false;
    let aborted = false;
    return {
      dir,
      receive: async (source, receiveSignal) => {
        const files = await extractTar(source, sink, this.limits, { signal: receiveSignal });
        await sink.flush();
        return files;
      },
      install: async (files, previous) => {
        const swap = await this.install(meta, dir, files, previous);
        return {
          ...swap,
          commit: async () => {
            published = true;
            // An upload of no files published nothing: no record will point at its marker.
            if (files.length === 0) await this.remove([dir], 'could not remove the marker of an empty upload');
          },
        };
      },
      abort: async () => {
        if (published || aborted) return;
        aborted = true;
        await sink.stop(new Error('the upload ended unpublished'));
        await this.remove([dir], 'could not remove an unpublished upload');
      },
    };
  }

  private async install(meta: UploadMeta, dir: string, files: readonly ExtractedFile[], previous: ReadonlySet<string>): Promise<Swap> {
    const manifest = manifestOf(dir);
    if (files.length > 0) {
      const body: Manifest = {
        version: 1,
        taskId: meta.taskId,
        userId: meta.userId,
        taskName: meta.taskName,
        submittedAt: meta.submittedAt.toISOString(),
        assignmentId: meta.assignmentId,
        dir,
        files: files.map((f) => ({ path: f.path, object: `${dir}/${f.path}`, size: f.size, sha256: f.sha256 })),
      };
      await this.putJson(manifest, body);
    }
    // Should deleting the replaced attempts fail below, the sweep finds them by these.
    const replaced = [...previous].filter((d) => d !== dir);
    await this.mark(replaced, meta.taskId);
    return {
      // The staged objects go with the upload's abort.
      undo: async () => {
        await this.objects.delete([manifest]).catch(() => {});
      },
      commit: async () => {},
      settle: async () => {},
      discard: () => this.remove(replaced, 'could not remove replaced outputs'),
    };
  }

  async detach(taskId: string, dirs: ReadonlySet<string>): Promise<Swap> {
    const list = [...dirs];
    // Marked first: the records go next, and then only a marker leads to these objects.
    await this.mark(list, taskId);
    return {
      undo: async () => {},
      commit: async () => {},
      settle: async () => {},
      discard: () => this.remove(list, 'could not remove deleted outputs'),
    };
  }

  /**
   * The object's bytes in chunks of 1 MiB (the last shorter), gathered from
   * the HTTP body into buffers with room for the message's prefix (see
   * @cloudai/proto's allocWithFrameRoom). The body is read only as chunks
   * are pulled.
   */
  async *read(record: FileMetadataRecord, { range, signal }: { range?: ByteRange; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const name = `${record.taskDir}/${record.filePath}`;
    let body;
    try {
      ({ body } = await this.objects.getObjectStream(name, { range, signal }));
    } catch (err) {
      if (err instanceof ObjectStoreError && err.code === 'NoSuchKey') {
        throw notFound(`output file ${JSON.stringify(record.filePath)} of task ${record.taskId} is missing from storage`);
      }
      throw err;
    }
    try {
      let buffer = allocWithFrameRoom(MAX_DATA_CHUNK_BYTES);
      let filled = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (let at = 0; at < chunk.length; ) {
          const n = Math.min(MAX_DATA_CHUNK_BYTES - filled, chunk.length - at);
          chunk.copy(buffer, filled, at, at + n);
          filled += n;
          at += n;
          if (filled === MAX_DATA_CHUNK_BYTES) {
            yield buffer;
            buffer = allocWithFrameRoom(MAX_DATA_CHUNK_BYTES);
            filled = 0;
          }
        }
      }
      if (filled > 0) yield buffer.subarray(0, filled);
    } finally {
      body.destroy();
    }
  }

  /**
   * Removes leftovers older than a day (S3BackendOptions.staleAfterMs):
   * multipart uploads nobody completed, and every marked attempt that no
   * record points at. Returns how many uploads and attempts it removed.
   */
  async sweep(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.staleAfterMs);
    let removed = await this.objects.abortStaleMultipartUploads('', cutoff);
    // Listed first, deleted after: deleting while paging would move the markers.
    const stale: string[] = [];
    for await (const marker of this.objects.list(`${STAGING}/`)) {
      if (marker.lastModified && marker.lastModified < cutoff) stale.push(marker.name);
    }
    for (const name of stale) {
      const marker = await this.readMarker(name);
      if (!marker) {
        await this.objects.delete([name]);
        continue;
      }
      const records = await this.store.listFileMetadata(marker.taskId);
      if (records.some((r) => r.taskDir === marker.dir)) {
        // Published and still current: only the marker goes.
        await this.objects.delete([name]);
        continue;
      }
      await this.removeAttempt(marker.dir);
      removed++;
      this.log.info({ taskId: marker.taskId, dir: marker.dir }, 'removed outputs left unpublished or unremoved');
    }
    return removed;
  }

  /** Removes each attempt folder (open uploads, objects, manifest, then marker); logs rather than fails: the sweep finishes what this cannot. */
  private async remove(dirs: readonly string[], what: string): Promise<void> {
    for (const dir of dirs) {
      if (!markerOf(dir)) {
        // A record of another layout (the fs backend's task folder, say,
        // when a deployment switched backends over the same records): its
        // "folder" here would hold every attempt of the task, the one just
        // published too. Its files are not in this bucket; nothing to remove.
        this.log.warn({ dir }, 'a record points at a folder that is no attempt of the s3 backend; nothing removed for it');
        continue;
      }
      try {
        await this.removeAttempt(dir);
      } catch (err) {
        this.log.warn({ dir, err }, `${what}; the sweep will remove them after a day`);
      }
    }
  }

  private async removeAttempt(dir: string): Promise<void> {
    // Aborted with any start time: this attempt is over.
    await this.objects.abortStaleMultipartUploads(`${dir}/`, new Date(Date.now() + DAY_MS));
    await this.objects.deleteByPrefix(`${dir}/`);
    await this.objects.delete([manifestOf(dir)]);
    const marker = markerOf(dir);
    if (marker) await this.objects.delete([marker]);
  }

  /** Writes the pending marker of each attempt folder in `dirs` (folders of other layouts have none). */
  private async mark(dirs: readonly string[], taskId: string, signal?: AbortSignal): Promise<void> {
    for (const dir of dirs) {
      const marker = markerOf(dir);
      if (marker) await this.putJson(marker, { taskId, dir } satisfies Marker, signal);
    }
  }

  private async readMarker(name: string): Promise<Marker | undefined> {
    const value = await this.getJson(name);
    const m = value as Partial<Marker> | undefined;
    return typeof m?.taskId === 'string' && typeof m.dir === 'string' && markerOf(m.dir) === name ? { taskId: m.taskId, dir: m.dir } : undefined;
  }

  /** A small JSON object, or undefined when it is not there or not JSON. */
  private async getJson(name: string): Promise<unknown> {
    let read;
    try {
      read = await this.objects.getObjectStream(name, { signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      if (err instanceof ObjectStoreError && err.code === 'NoSuchKey') return undefined;
      throw err;
    }
    const parts: Buffer[] = [];
    for await (const chunk of read.body as AsyncIterable<Buffer>) parts.push(chunk);
    try {
      return JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  private async putJson(name: string, value: unknown, signal?: AbortSignal): Promise<void> {
    const body = Buffer.from(JSON.stringify(value));
    await this.objects.putObjectStream(name, body.length, [body], { signal, contentType: 'application/json' });
  }
}

function newAttempt(): string {
  const when = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return `${when}-${randomBytes(6).toString('hex')}`;
}

const manifestOf = (dir: string) => `${dir}.manifest.json`;

/** The pending marker of an attempt folder; undefined for a folder that is not one. */
function markerOf(dir: string): string | undefined {
  const attempt = dir.slice(dir.lastIndexOf('/') + 1);
  return ATTEMPT.test(attempt) ? `${STAGING}/${attempt}` : undefined;
}
