import { StorageServiceDefinition, type DownloadFilesResponse, type OutputFile } from '@cloudai/proto';
import {
  clientErrorKind,
  connectReplicas,
  DomainError,
  Status,
  type ClientError,
  type ClientTls,
  type ReplicaClient,
} from '@cloudai/rpc';
import type { MasterCredentials } from './auth/credentials.js';

/** A part of a download still to send: a file, or (path '') every file. */
interface Piece {
  path: string;
  offset: number;
  length: number;
  /** the file this piece continues after a cut: its header went out already */
  continues?: OutputFile;
  /** whether this piece's own header (of `continues`) has been checked */
  headerSeen?: boolean;
}

/**
 * Task outputs, read through the storage service: the CLI talks only to the
 * master, which checks ownership and then relays.
 */
export class OutputFiles {
  private readonly storage: ReplicaClient<typeof StorageServiceDefinition>;

  constructor(
    addresses: readonly string[],
    credentials: MasterCredentials,
    tls?: ClientTls,
  ) {
    // Storage serves listings, downloads and deletes to the master only; with
    // several replicas, any one that is up serves each call.
    this.storage = connectReplicas(StorageServiceDefinition, addresses, {
      defaultDeadlineMs: 30_000,
      bearer: () => credentials.assertionFor('storage'),
      tls,
    });
  }

  async list(taskId: string, signal: AbortSignal): Promise<{ files: OutputFile[]; totalBytes: number }> {
    try {
      return await this.storage.client.listFiles({ taskId }, { signal });
    } catch (err) {
      throw this.relay(err);
    }
  }

  /**
   * One file, or every file with an empty path; `offset`/`length` pick a
   * piece of one file. With several storage replicas, a download cut by the
   * loss of the one serving it goes on from another: the file being sent
   * continues from the byte where it stopped (its header is not sent again,
   * and the file must still be the same version), then the files not yet
   * sent follow, one by one. The caller sees one unbroken stream.
   */
  async *download(
    taskId: string,
    what: { path: string; offset: number; length: number },
    signal: AbortSignal,
  ): AsyncGenerator<DownloadFilesResponse> {
    const pieces: Piece[] = [{ ...what }];
    const sent = new Set<string>();
    let failovers = 0;
    for (let piece = pieces.shift(); piece !== undefined; piece = pieces.shift()) {
      let file = piece.continues;
      let bytes = 0;
      try {
        // A download may take long: no deadline, only the caller's cancellation.
        const request = { taskId, path: piece.path, offset: piece.offset, length: piece.length };
        for await (const part of this.storage.client.downloadFiles(request, { signal, deadline: undefined })) {
          if (piece.continues && !piece.headerSeen) {
            // The file's header went out before the cut: check it, do not repeat it.
            piece.headerSeen = true;
            if (part.file?.size !== piece.continues.size || part.file.sha256 !== piece.continues.sha256) {
              throw new DomainError(Status.ABORTED, `output file ${JSON.stringify(piece.path)} of task ${taskId} changed during the download; retry it`);
            }
            continue;
          }
          if (part.file) {
            if (file) sent.add(file.path);
            file = part.file;
            bytes = 0;
          } else if (part.data) {
            bytes += part.data.length;
          }
          yield part;
        }
        if (file) sent.add(file.path);
      } catch (err) {
        const canGoOn = clientErrorKind(err) === 'unavailable' && this.storage.addresses.length > 1 && ++failovers <= 3 * this.storage.addresses.length;
        if (!canGoOn) throw this.relay(err);
        if (file === undefined) {
          // Nothing of it went out: ask again (another replica answers).
          pieces.unshift(piece);
          continue;
        }
        // A one-file piece's offset and length are that file's; a whole-task stream sends every file whole.
        const from = piece.path !== '' ? piece.offset : 0;
        const left = piece.path !== '' && piece.length > 0 ? piece.length - bytes : 0;
        pieces.unshift({ path: file.path, offset: from + bytes, length: left, continues: file });
        if (piece.path === '') {
          const { files } = await this.storage.client.listFiles({ taskId }, { signal }).catch((e: unknown) => {
            throw this.relay(e);
          });
          const cut = file.path;
          pieces.push(...files.filter((f) => !sent.has(f.path) && f.path !== cut).map((f) => ({ path: f.path, offset: 0, length: 0 })));
        }
      }
    }
  }

  async delete(taskId: string, signal: AbortSignal): Promise<{ deletedFiles: number; deletedBytes: number }> {
    try {
      return await this.storage.client.deleteFiles({ taskId }, { signal });
    } catch (err) {
      throw this.relay(err);
    }
  }

  close(): void {
    this.storage.close();
  }

  /** Storage's answer, kept as the user's answer; an unreachable storage is named. */
  private relay(err: unknown): unknown {
    const kind = clientErrorKind(err);
    if (kind === 'unavailable') {
      const where = this.storage.addresses.length === 1 ? `at ${this.storage.addresses[0]}` : `(every replica: ${this.storage.addresses.join(', ')})`;
      return new DomainError(Status.UNAVAILABLE, `the storage service ${where} is unreachable; try again`);
    }
    if (kind === 'local' || kind === 'cancelled') return err;
    const { code, details } = err as ClientError;
    return new DomainError(code, details);
  }
}
