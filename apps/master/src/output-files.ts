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

  /** One file, or every file with an empty path; `offset`/`length` pick a piece of one file. */
  async *download(
    taskId: string,
    what: { path: string; offset: number; length: number },
    signal: AbortSignal,
  ): AsyncGenerator<DownloadFilesResponse> {
    try {
      // A download may take long: no deadline, only the caller's cancellation.
      yield* this.storage.client.downloadFiles({ taskId, ...what }, { signal, deadline: undefined });
    } catch (err) {
      throw this.relay(err);
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
