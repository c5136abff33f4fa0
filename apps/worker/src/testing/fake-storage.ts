import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  StorageServiceDefinition,
  type OutputFile,
  type StorageServiceImplementation,
  type UploadHeader,
} from '@cloudai/proto';
import { createServer, ServerError, Status, type Server } from 'nice-grpc';
import { Parser, type ReadEntry } from 'tar';

export interface TarEntry {
  /** as written in the archive, e.g. "./models/model.bin" */
  path: string;
  type: string;
  size: number;
  sha256: string;
}

/** One UploadOutputs call as this fake saw it. */
export interface UploadRecord {
  header: UploadHeader | undefined;
  /** the claims of the header's grant, read without checking its signature (the real storage checks it) */
  grant: Record<string, unknown> | undefined;
  /** size of every data message, in order */
  chunkSizes: number[];
  totalBytes: number;
  entries: TarEntry[];
  /** how the call ended: stored, or the status this fake answered with */
  outcome: 'stored' | keyof typeof Status;
}

/**
 * A real in-process StorageService on 127.0.0.1 that parses each upload's
 * tar as it streams in (hashing, never keeping, file contents) and records
 * what it saw. It can fail the next uploads with UNAVAILABLE or reject them.
 */
export class FakeStorage {
  readonly uploads: UploadRecord[] = [];
  /** the next this-many uploads fail with UNAVAILABLE after their header */
  failUploads = 0;
  /** when set, every upload is refused with this status and message */
  reject: { code: Status; message: string } | undefined;
  /** called with each upload as its header arrives, before this fake answers */
  onUpload: ((upload: UploadRecord) => void) | undefined;
  private server: Server | undefined;
  private port = 0;

  static async start(): Promise<FakeStorage> {
    const storage = new FakeStorage();
    const server = createServer();
    server.add(StorageServiceDefinition, storage.implementation());
    storage.port = await server.listen('127.0.0.1:0');
    storage.server = server;
    return storage;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  uploadsOf(taskId: string): UploadRecord[] {
    return this.uploads.filter((u) => u.grant?.taskId === taskId);
  }

  private implementation(): StorageServiceImplementation {
    const unimplemented = () => {
      throw new ServerError(Status.UNIMPLEMENTED, 'the fake storage only takes uploads');
    };
    return {
      uploadOutputs: async (requests) => {
        const record: UploadRecord = {
          header: undefined,
          grant: undefined,
          chunkSizes: [],
          totalBytes: 0,
          entries: [],
          outcome: 'stored',
        };
        this.uploads.push(record);
        const iterator = requests[Symbol.asyncIterator]();
        const first = await iterator.next();
        record.header = first.done ? undefined : first.value.header;
        record.grant = claimsOf(record.header?.grant);
        this.onUpload?.(record);
        const refuse = (code: Status, message: string): never => {
          record.outcome = Status[code] as keyof typeof Status;
          throw new ServerError(code, message);
        };
        if (!record.header) refuse(Status.INVALID_ARGUMENT, 'the first message must be the header');
        if (this.reject) refuse(this.reject.code, this.reject.message);
        if (this.failUploads > 0) {
          this.failUploads--;
          refuse(Status.UNAVAILABLE, 'storage is restarting (fake)');
        }

        const parser = new Parser({ strict: true });
        const entriesDone: Promise<void>[] = [];
        parser.on('entry', (entry: ReadEntry) => {
          const hash = createHash('sha256');
          let size = 0;
          entry.on('data', (b: Buffer) => {
            hash.update(b);
            size += b.length;
          });
          entriesDone.push(
            once(entry, 'end').then(() => {
              record.entries.push({ path: entry.path, type: entry.type, size, sha256: hash.digest('hex') });
            }),
          );
        });
        const closed = once(parser, 'close');
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const data = next.value.data;
          if (!data || next.value.header) refuse(Status.INVALID_ARGUMENT, 'only the first message may be a header');
          record.chunkSizes.push(data!.length);
          record.totalBytes += data!.length;
          if (!parser.write(data!)) await once(parser, 'drain');
        }
        parser.end();
        await closed;
        await Promise.all(entriesDone);
        const files: OutputFile[] = record.entries
          .filter((e) => e.type === 'File')
          .map((e) => ({ path: e.path.replace(/^\.\//, ''), size: e.size, sha256: e.sha256 }));
        return { files, totalBytes: files.reduce((n, f) => n + f.size, 0) };
      },
      listFiles: unimplemented,
      downloadFiles: unimplemented,
      deleteFiles: unimplemented,
    };
  }
}

/** The claims part of a `cag_<claims>.<signature>` grant, decoded; undefined when it is not one. */
function claimsOf(grant: string | undefined): Record<string, unknown> | undefined {
  const match = /^cag_([A-Za-z0-9_-]+)\./.exec(grant ?? '');
  if (!match) return undefined;
  return JSON.parse(Buffer.from(match[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
