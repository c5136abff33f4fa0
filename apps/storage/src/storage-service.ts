import { MAX_DATA_CHUNK_BYTES } from '@cloudai/domain';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { DownloadFilesResponse, StorageServiceImplementation, UploadOutputsRequest } from '@cloudai/proto';
import { DomainError, invalidArgument, notFound } from '@cloudai/rpc';
import type { FileMetadataRecord } from '@cloudai/store';
import { Status } from 'nice-grpc';
import type { MasterKey } from './master-key.js';
import type { StorageMetrics } from './metrics.js';
import type { TaskOutputs } from './outputs.js';


/** The storage API over the task output folders. */
export function storageService(outputs: TaskOutputs, master: MasterKey, metrics: StorageMetrics): StorageServiceImplementation {
  return {
    async uploadOutputs(request, context) {
      const started = performance.now();
      const messages = request[Symbol.asyncIterator]();
      const first = await messages.next();
      if (first.done || !first.value.header) {
        throw invalidArgument('the first UploadOutputs message must be the header');
      }
      // Where the outputs are filed comes from the master's grant, never from the worker.
      const meta = await master.uploadOf(first.value.header.grant);
      const stored = await outputs.upload(meta, dataParts(messages), context.signal);
      metrics.stored({ files: stored.files.length, bytes: stored.totalBytes, seconds: (performance.now() - started) / 1000 });
      return { files: stored.files, totalBytes: stored.totalBytes };
    },

    async listFiles(request) {
      // Unknown tasks and tasks that stored no files look the same: no files.
      const records = await outputs.list(request.taskId);
      return { files: records.map(toOutputFile), totalBytes: records.reduce((sum, r) => sum + r.fileSize, 0) };
    },

    async *downloadFiles(request, context) {
      const records = await outputs.list(request.taskId);
      let selected = records;
      if (request.path !== '') {
        selected = records.filter((r) => r.filePath === request.path);
        if (selected.length === 0) {
          throw notFound(`task ${request.taskId} has no output file ${JSON.stringify(request.path)}`);
        }
      }
      for (const record of selected) {
        yield { file: toOutputFile(record) } satisfies DownloadFilesResponse;
        yield* fileChunks(outputs.pathOf(record), record, context.signal);
      }
    },

    async deleteFiles(request) {
      if (request.taskId === '') throw invalidArgument('task_id is required');
      const deleted = await outputs.delete(request.taskId);
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
    if (next.value.data && next.value.data.length > 0) yield next.value.data;
  }
}

/**
 * The file's bytes in chunks of at most 1 MiB. The generator is pulled by
 * the server only as the client reads, so a slow download holds one chunk,
 * and a cancelled call closes the file through `signal`.
 */
async function* fileChunks(path: string, record: FileMetadataRecord, signal: AbortSignal) {
  // O_NOFOLLOW: stored trees never contain links; refuse one if it appears.
  let sent = 0;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    // The stream owns the handle from here and closes it on end, error or abort.
    const stream = fh.createReadStream({ highWaterMark: MAX_DATA_CHUNK_BYTES, signal });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sent += chunk.length;
      yield { data: chunk } satisfies DownloadFilesResponse;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw notFound(`output file ${JSON.stringify(record.filePath)} of task ${record.taskId} is missing from storage`);
    }
    throw err;
  }
  if (sent !== record.fileSize) {
    // The file was replaced under us (a retried upload); the client must not
    // take a mix of two uploads for the listed file.
    throw new DomainError(
      Status.ABORTED,
      `output file ${JSON.stringify(record.filePath)} of task ${record.taskId} changed during the download; retry it`,
    );
  }
}
