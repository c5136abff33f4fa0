import { MAX_DATA_CHUNK_BYTES } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import type {
  OutputFile,
  StorageServiceDefinition,
  UploadOutputsRequest,
  UploadOutputsResponse,
} from '@cloudai/proto';
import { ClientError, clientErrorKind, isTransient, NO_DEADLINE, withRetry } from '@cloudai/rpc';
import type { Client } from 'nice-grpc';
import { packFolder } from './tar-pack.js';

export type StorageClient = Client<typeof StorageServiceDefinition>;

/** How many times one upload asks for a new grant before it gives up on storage's refusals. */
const MAX_GRANT_RENEWALS = 3;


export type UploadResult =
  | { kind: 'stored'; files: OutputFile[]; totalBytes: number }
  /** storage refused the outputs, or they could not be read: resending the same folder cannot help */
  | { kind: 'failed'; reason: string };

export interface UploadJob {
  taskId: string;
  assignmentId: string;
  /** the master's grant for this assignment's upload; storage takes where to file the outputs from it */
  grant: string;
  /**
   * Asks the master for a fresh grant (grants are short-lived and an upload
   * may be retried for longer); undefined when none can be had.
   */
  renewGrant?: () => Promise<string | undefined>;
  /** the assignment's output folder on this host */
  folder: string;
}

export interface OutputUploaderOptions {
  client: StorageClient;
  /** WORKER_UPLOAD_CHUNK_BYTES: data bytes per message, at most 1 MiB */
  chunkBytes: number;
  logger: Logger;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  /** told of every data message handed to the call, resends included (the worker's metrics) */
  onSent?: (bytes: number) => void;
}

/**
 * Packs an output folder as a tar stream and sends it to storage in one
 * client-streaming call. Nothing is held whole: the tar is produced only as
 * fast as gRPC sends it, so memory stays flat whatever the folder's size.
 */
export class OutputUploader {
  private readonly log: Logger;
  private readonly chunkBytes: number;

  constructor(private readonly options: OutputUploaderOptions) {
    this.log = options.logger.child({ component: 'uploader' });
    if (!Number.isInteger(options.chunkBytes) || options.chunkBytes < 1 || options.chunkBytes > MAX_DATA_CHUNK_BYTES) {
      throw new Error(`upload chunk size must be 1..${MAX_DATA_CHUNK_BYTES} bytes, got ${options.chunkBytes}`);
    }
    this.chunkBytes = options.chunkBytes;
  }

  /**
   * Uploads until storage acknowledges, retrying unreachable storage with
   * capped backoff for as long as `signal` lasts (it rejects with the abort).
   */
  async upload(job: UploadJob, signal: AbortSignal): Promise<UploadResult> {
    const ctx = { taskId: job.taskId, assignmentId: job.assignmentId };
    const started = performance.now();
    let grant = job.grant;
    let renewals = 0;
    let response: UploadOutputsResponse;
    try {
      response = await withRetry(
        async () => {
          try {
            return await this.attempt(job, grant, signal);
          } catch (err) {
            // Grants are short-lived and storage may be retried for longer:
            // a refused grant is renewed and the upload sent again.
            if (clientErrorKind(err) !== 'unauthenticated' || !job.renewGrant || renewals >= MAX_GRANT_RENEWALS) throw err;
            const fresh = await job.renewGrant();
            if (!fresh) throw err;
            renewals++;
            grant = fresh;
            this.log.info({ ...ctx, err }, 'storage refused the upload grant; sending again with a new one');
            return await this.attempt(job, grant, signal);
          }
        },
        {
          signal,
          // Storage is down, restarting or cut the stream off: the same upload
          // again can succeed, and storage replaces an earlier partial one.
          retryable: isTransient,
          initialDelayMs: this.options.retryInitialDelayMs ?? 200,
          maxDelayMs: this.options.retryMaxDelayMs ?? 5_000,
          onRetry: (err, attempt, delayMs) =>
            this.log.warn({ ...ctx, attempt, delayMs, err }, 'storage unavailable; retrying the upload'),
        },
      );
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof ClientError) {
        this.log.error({ ...ctx, err }, 'storage rejected the outputs');
        return { kind: 'failed', reason: `outputs rejected by storage: ${err.details}` };
      }
      this.log.error({ ...ctx, err }, 'outputs could not be packed');
      return { kind: 'failed', reason: `outputs could not be packed: ${(err as Error).message}` };
    }
    // ms: from the start of packing to storage's acknowledgement, retries included
    const ms = Math.round(performance.now() - started);
    this.log.info({ ...ctx, files: response.files.length, bytes: response.totalBytes, ms }, 'outputs stored');
    return { kind: 'stored', files: response.files, totalBytes: response.totalBytes };
  }

  private attempt(job: UploadJob, grant: string, signal: AbortSignal): Promise<UploadOutputsResponse> {
    // A stream has no sensible deadline: it takes as long as the outputs are
    // big. The signal (cancel, stale, worker exit) is what ends it early.
    // (The deadline middleware's option is not in the client's call type.)
    const options = { signal, deadline: NO_DEADLINE };
    return this.options.client.uploadOutputs(this.requests(job, grant), options);
  }

  /** Header first, then the tar in messages of exactly chunkBytes (the last may be shorter). */
  private async *requests(job: UploadJob, grant: string): AsyncGenerator<UploadOutputsRequest> {
    yield { header: { grant } };
    const onSkipped = (path: string, kind: string) =>
      this.log.warn({ taskId: job.taskId, path, kind }, 'output entry left out: only files and folders are stored');
    // Pulled one chunk at a time as gRPC sends them; an ended call stops
    // the generator, which closes the file it was reading.
    for await (const data of packFolder(job.folder, this.chunkBytes, { onSkipped })) {
      this.options.onSent?.(data.length);
      yield { data };
    }
  }
}
