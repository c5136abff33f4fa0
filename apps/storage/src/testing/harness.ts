import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { issueMasterAssertion, issueUploadGrant, SigningKey } from '@cloudai/auth';
import { join, relative } from 'node:path';
import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { StorageServiceDefinition, type UploadOutputsRequest } from '@cloudai/proto';
import { connect, type ServiceClient } from '@cloudai/rpc';
import { Metadata } from 'nice-grpc';
import { openSqliteStore, type FileMetadataStore } from '@cloudai/store';
import { tempDir, type TempDir } from '@cloudai/testing';
import { Env } from '../env.js';
import { Storage } from '../storage.js';

export const MiB = 1024 * 1024;

/**
 * Plays the master's key: the harness puts its public half where storage
 * looks for it, and signs upload grants and the master's assertions with it.
 */
export const TEST_MASTER_KEY = SigningKey.generate();

/** Call options of the master's calls to storage (list, download, delete). */
export function asMaster(key: SigningKey = TEST_MASTER_KEY): { metadata: Metadata } {
  return { metadata: Metadata({ authorization: `Bearer ${issueMasterAssertion(key, 'storage')}` }) };
}

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
    METRICS_ADDR: '127.0.0.1:0',
    CLOUDAI_DATA_DIR: dataDir,
    STORAGE_ROOT: root,
    STORAGE_MAX_TASK_BYTES: String(8 * MiB),
    STORAGE_MAX_TASK_FILES: '50',
    STORAGE_MAX_PATH_DEPTH: '16',
    SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  await mkdir(join(dataDir, 'master'), { recursive: true });
  await writeFile(join(dataDir, 'master', 'signing-key.pub'), TEST_MASTER_KEY.publicKeyPem());
  const log = createLogger({ name: 'storage-test', level: 'silent' });
  const h = {} as Harness;
  const open = async () => {
    h.storage = new Storage(parsed, log);
    await h.storage.start();
    // As the master: listing, downloading and deleting are the master's alone.
    const conn = connect(StorageServiceDefinition, h.storage.address, {
      defaultDeadlineMs: 60_000,
      bearer: () => issueMasterAssertion(TEST_MASTER_KEY, 'storage'),
    });
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
  /** the grant to send instead of one signed by TEST_MASTER_KEY for the fields above */
  grant?: string;
}

/** The master's grant to upload `h`'s outputs, signed by `key`, issued at `now`. */
export function grantFor(h: HeaderFields, key: SigningKey = TEST_MASTER_KEY, now = new Date()): string {
  return issueUploadGrant(
    key,
    {
      taskId: h.taskId,
      taskName: h.taskName ?? 'job',
      userId: h.userId ?? 'alice',
      submittedAt: (h.submittedAt ?? SUBMITTED).getTime(),
      assignmentId: h.assignmentId ?? 'a1',
    },
    { ttlSeconds: 3600, now },
  );
}

export const SUBMITTED = new Date('2025-01-02T03:04:05Z');
export const SUBMITTED_SECS = String(Math.floor(SUBMITTED.getTime() / 1000));

/** The upload's messages: the header, then each part as a data message. */
export async function* uploadMessages(
  h: HeaderFields,
  parts: Iterable<Buffer> | AsyncIterable<Buffer>,
): AsyncGenerator<UploadOutputsRequest> {
  yield { header: { grant: h.grant ?? grantFor(h) } };
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
