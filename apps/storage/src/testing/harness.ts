import { lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { StorageServiceDefinition, type UploadOutputsRequest } from '@cloudai/proto';
import { connect, type ServiceClient } from '@cloudai/rpc';
import { openSqliteStore, type FileMetadataStore } from '@cloudai/store';
import { tempDir, type TempDir } from '@cloudai/testing';
import { Env } from '../env.js';
import { Storage } from '../storage.js';

export const MiB = 1024 * 1024;

/** A storage process in-process on 127.0.0.1:0 over a fresh temp folder, plus a client. */
export interface Harness {
  tmp: TempDir;
  root: string;
  dataDir: string;
  storage: Storage;
  client: ServiceClient<typeof StorageServiceDefinition>['client'];
  /** a second handle on the same SQLite file, to check records independently */
  store: FileMetadataStore;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const tmp = await tempDir('cloudai-storage-');
  const root = join(tmp.path, 'root');
  const dataDir = join(tmp.path, 'data');
  const parsed = parseEnv(Env, {
    LISTEN_ADDR: '127.0.0.1:0',
    CLOUDAI_DATA_DIR: dataDir,
    STORAGE_ROOT: root,
    STORAGE_MAX_TASK_BYTES: String(8 * MiB),
    STORAGE_MAX_TASK_FILES: '50',
    STORAGE_MAX_PATH_DEPTH: '16',
    SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const log = createLogger({ name: 'storage-test', level: 'silent' });
  const h = {} as Harness;
  const open = async () => {
    h.storage = new Storage(parsed, log);
    await h.storage.start();
    const conn = connect(StorageServiceDefinition, h.storage.address, { defaultDeadlineMs: 60_000 });
    h.client = conn.client;
    closeClient = conn.close;
  };
  let closeClient = () => {};
  Object.assign(h, { tmp, root, dataDir });
  await open();
  h.store = await openSqliteStore(join(dataDir, 'storage', 'metadata.db'));
  h.restart = async () => {
    closeClient();
    await h.storage.stop();
    await open();
  };
  h.close = async () => {
    closeClient();
    await h.storage.stop();
    await h.store.close();
    await tmp.remove();
  };
  return h;
}

export interface HeaderFields {
  taskId: string;
  taskName?: string;
  userId?: string;
  submittedAt?: Date;
  assignmentId?: string;
}

export const SUBMITTED = new Date('2025-01-02T03:04:05Z');
export const SUBMITTED_SECS = String(Math.floor(SUBMITTED.getTime() / 1000));

/** The upload's messages: the header, then each part as a data message. */
export async function* uploadMessages(
  h: HeaderFields,
  parts: Iterable<Buffer> | AsyncIterable<Buffer>,
): AsyncGenerator<UploadOutputsRequest> {
  yield {
    header: {
      taskId: h.taskId,
      taskName: h.taskName ?? 'job',
      userId: h.userId ?? 'alice',
      submittedAt: h.submittedAt ?? SUBMITTED,
      assignmentId: h.assignmentId ?? 'a1',
    },
  };
  for await (const data of parts) yield { data };
}

/** Every path under `dir` (files, folders, links), relative, sorted. */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string) => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      out.push(relative(dir, p));
      if ((await lstat(p)).isDirectory()) await visit(p);
    }
  };
  await visit(dir);
  return out.sort();
}
