import { ID_PATTERN, ID_RULE, MAX_DATA_CHUNK_BYTES, MAX_OUTPUT_PATH_BYTES, quoted } from '@cloudai/domain';
import { type DownloadFilesResponse, type StorageServiceImplementation, type UploadOutputsRequest } from '@cloudai/proto';
import { DomainError, invalidArgument, notFound, outOfRange } from '@cloudai/rpc';
import type { FileMetadataRecord } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { MasterKey } from './master-key.js';
import type { StorageMetrics } from './metrics.js';
import type { TaskOutputs } from './outputs.js';


export interface StorageServiceOptions {
  /** STORAGE_UPLOAD_IDLE_MS */
  uploadIdleMs: number;
  metrics: StorageMetrics;
}

/**
 * A task id as the master sends it. Upload grants are the master's own
 * signature and are not checked here; list, download and delete refuse what
 * no grant the master makes would hold.
 */
function taskIdOf(value: string): string {
  if (!value) throw invalidArgument('task_id is required');
  if (!ID_PATTERN.test(value)) throw invalidArgument(`task_id must be ${ID_RULE}`);
  return value;
}

/** The storage API over the task output folders. */
export function storageService(outputs: TaskOutputs, master: MasterKey, options: StorageServiceOptions): StorageServiceImplementation {
  return {
    async uploadOutputs(request, context) {
      const started = performance.now();
      const messages = idleBounded(request, options.uploadIdleMs)[Symbol.asyncIterator]();
      const first = await messages.next();
      if (first.done || !first.value.header) {
        throw invalidArgument('the first UploadOutputs message must be the header');
      }
      // Where the outputs are filed comes from the master's grant, never from the worker.
      const meta = await master.uploadOf(first.value.header.grant);
      const stored = await outputs.upload(meta, dataParts(messages), context.signal);
      options.metrics.stored({ files: stored.files.length, bytes: stored.totalBytes, seconds: (performance.now() - started) / 1000 });
      return { files: stored.files, totalBytes: stored.totalBytes };
    },

    async listFiles(request) {
      // Unknown tasks and tasks that stored no files look the same: no files.
      const records = await outputs.list(taskIdOf(request.taskId));
      return { files: records.map(toOutputFile), totalBytes: records.reduce((sum, r) => sum + r.fileSize, 0) };
    },

    async *downloadFiles(request, context) {
      const taskId = taskIdOf(request.taskId);
      // No stored path holds NUL (extraction refuses it) or is longer.
      if (Buffer.byteLength(request.path) > MAX_OUTPUT_PATH_BYTES || request.path.includes('\0')) {
        throw invalidArgument(`path must be at most ${MAX_OUTPUT_PATH_BYTES} bytes, without NUL`);
      }
      if (request.path === '' && (request.offset > 0 || request.length > 0)) {
        throw invalidArgument('offset and length apply to one file: they need a path');
      }
      const records = await outputs.list(taskId);
      let selected = records;
      if (request.path !== '') {
        selected = records.filter((r) => r.filePath === request.path);
        if (selected.length === 0) throw notFound(`task ${taskId} has no output file ${quoted(request.path)}`);
        if (request.offset > selected[0]!.fileSize) {
          throw outOfRange(`offset ${request.offset} is past the end of ${quoted(request.path)} (${selected[0]!.fileSize} bytes)`);
        }
      }
      for (const record of selected) {
        yield { file: toOutputFile(record) } satisfies DownloadFilesResponse;
        const length = request.length > 0 ? Math.min(request.length, record.fileSize - request.offset) : record.fileSize - request.offset;
        // The end of the file asked for (a resume of a complete file): nothing to read.
        if (length === 0) continue;
        const whole = request.offset === 0 && length === record.fileSize;
        const range = whole ? undefined : { start: request.offset, end: request.offset + length - 1 };
        yield* fileChunks(outputs.read(record, { range, signal: context.signal }), record, length);
      }
    },

    async deleteFiles(request) {
      const deleted = await outputs.delete(taskIdOf(request.taskId));
      return { deletedFiles: deleted.files, deletedBytes: deleted.bytes };
    },
  };
}

const toOutputFile = (r: FileMetadataRecord) => ({ path: r.filePath, size: r.fileSize, sha256: r.sha256 });

/** The data parts after the header; a second header is a protocol error. */
async function* dataParts(messages: AsyncIterator<UploadOutputsRequest>): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = await messages.next();
    if (next.done) return;
    if (next.value.header) throw invalidArgument('only the first UploadOutputs message may be a header');
    const data = next.value.data;
    if (data && data.length > MAX_DATA_CHUNK_BYTES) {
      throw invalidArgument(`data must be at most ${MAX_DATA_CHUNK_BYTES} bytes per message, got ${data.length}`);
    }
    if (data && data.length > 0) yield data;
  }
}

/**
 * The upload's messages, failing with DEADLINE_EXCEEDED when the client
 * sends nothing for `idleMs`: no header and no data (empty messages do not
 * count, or a trickle of them would hold the upload open for good). Only
 * the wait for the client counts: while storage is busy writing, the
 * client is held back by flow control.
 */
async function* idleBounded(messages: AsyncIterable<UploadOutputsRequest>, idleMs: number): AsyncGenerator<UploadOutputsRequest> {
  const it = messages[Symbol.asyncIterator]();
  for (;;) {
    const due = performance.now() + idleMs;
    let next: IteratorResult<UploadOutputsRequest>;
    do {
      next = await nextBefore(it, due, idleMs);
    } while (!next.done && !next.value.header && !next.value.data?.length);
    if (next.done) return;
    yield next.value;
  }
}

async function nextBefore<T>(it: AsyncIterator<T>, due: number, idleMs: number): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    const fail = () =>
      reject(new DomainError(Status.DEADLINE_EXCEEDED, `the upload sent nothing for ${idleMs} ms (STORAGE_UPLOAD_IDLE_MS); send it again`));
    timer = setTimeout(fail, Math.max(0, due - performance.now()));
  });
  try {
    return await Promise.race([it.next(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The file's bytes as data messages. The backend's chunks are pulled by the
 * server only as the client reads, so a slow download holds few of them,
 * and a cancelled call ends the read.
 */
async function* fileChunks(chunks: AsyncIterable<Buffer>, record: FileMetadataRecord, length: number) {
  let sent = 0;
  for await (const data of chunks) {
    sent += data.length;
    yield { data } satisfies DownloadFilesResponse;
  }
  if (sent !== length) {
    // The file was replaced under us (a retried upload); the client must not
    // take a mix of two uploads for the listed file.
    throw new DomainError(
      Status.ABORTED,
      `output file ${JSON.stringify(record.filePath)} of task ${record.taskId} changed during the download; retry it`,
    );
  }
}
