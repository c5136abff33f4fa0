import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageServiceDefinition, type UploadOutputsRequest } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import {
  drain,
  idCases,
  judge,
  refused,
  rpcRows,
  sendingRawRequests,
  textCases,
  TOO_BIG,
  unknownFieldMessage,
  requireS3Server,
  waitFor,
  type HostileCase,
  type HostileRow,
} from '@cloudai/testing';
import { issueMasterAssertion } from '@cloudai/auth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { grantFor, MiB, startHarness, TEST_MASTER_KEY, uploadMessages, walk, type Harness } from './testing/harness.js';
import { startS3Fixture, type S3Fixture } from './testing/s3.js';
import { END, file } from './testing/tar.js';

// Every StorageService RPC, sent what a scanner sends: uploads with a grant
// (the only credential an upload takes), the rest as the master. Hostile tar
// entries have their own table (hostile-upload.test.ts); this one is about
// the messages. A refusal names the field, or is RESOURCE_EXHAUSTED for a
// message over storage's 4 MiB limit; afterwards nothing new is on disk or
// in the records, and the master is still served.

/** How long an upload may send nothing; short here so a silent client is seen to be cut off. */
const IDLE_MS = 1_000;
/** A task with stored outputs, which no refused call may touch. */
const KEPT = 'kept-task';

const s3Bin = requireS3Server('hostile input to storage on the s3 backend');

let h: Harness;
let s3: S3Fixture | undefined;
let client: ReturnType<typeof connect<typeof StorageServiceDefinition>>['client'];
const closers: (() => void)[] = [];

/** Starts storage on `backend`, connects the raw client and stores the kept task's outputs. */
async function open(backend: 'fs' | 's3'): Promise<void> {
  if (backend === 's3') s3 = await startS3Fixture(s3Bin!);
  h = await startHarness({ STORAGE_UPLOAD_IDLE_MS: String(IDLE_MS), STORAGE_FSYNC: 'false', ...s3?.env });
  // Big enough that the server, not the client, refuses what is too large.
  const c = connect(sendingRawRequests(StorageServiceDefinition), h.storage.address, {
    bearer: () => issueMasterAssertion(TEST_MASTER_KEY, 'storage'),
    maxMessageBytes: 256 * MiB,
    defaultDeadlineMs: 60_000,
  });
  closers.push(c.close);
  client = c.client;
  await h.client.uploadOutputs(uploadMessages({ taskId: KEPT }, [file('a.txt', 'kept'), END]));
}

async function close(): Promise<void> {
  for (const c of closers.splice(0)) c();
  await h?.close();
  await s3?.close();
  s3 = undefined;
}

/**
 * What is stored (on disk under the root, or in the bucket) and in the
 * records, once any refused upload has cleaned up after itself: on s3, no
 * object the records do not explain and no open multipart upload.
 */
async function stored() {
  const tasks = await h.store.listTasksWithFilesStoredBefore(new Date(8.64e15), 1_000);
  if (s3) {
    const records = (await Promise.all(tasks.map((t) => h.store.listFileMetadata(t)))).flat();
    await waitFor(async () => ((await s3!.strays(records)).length === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the refused upload’s objects to be removed',
    });
  } else {
    await waitFor(async () => ((await readdir(join(h.root, '.incoming'))).length === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: '.incoming to be emptied',
    });
  }
  return {
    tree: s3 ? (await s3.contents()).objects : await walk(h.root),
    tasks,
    kept: await h.store.listFileMetadata(KEPT),
  };
}

/** The master, on its own connection, still lists the kept outputs. */
async function masterServed(): Promise<void> {
  const { files } = await h.client.listFiles({ taskId: KEPT });
  expect(files.map((f) => f.path)).toEqual(['a.txt']);
}

let uploads = 0;
/** A valid upload's messages with `patch` applied: a fresh task each, so none replaces another. */
function uploadWith(
  messages: (header: UploadOutputsRequest) => AsyncIterable<UploadOutputsRequest | Uint8Array> | Iterable<UploadOutputsRequest | Uint8Array>,
) {
  const header = { header: { grant: grantFor({ taskId: `upload-${++uploads}` }) } };
  return client.uploadOutputs(toAsync(messages(header)) as AsyncIterable<UploadOutputsRequest>);
}

async function* toAsync<T>(items: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

const tar = () => Buffer.concat([file('out.txt', 'x'), END]);

/** The grant is the upload's credential: a malformed one is UNAUTHENTICATED, saying so. */
const GRANT_REFUSED = { code: 'UNAUTHENTICATED', why: "the grant is the upload's credential" } as const;

/** A client that keeps the call open and sends nothing (or, with `trickle`, empty messages) for good. */
function neverEnding({ header, trickle }: { header: boolean; trickle: boolean }): HostileCase {
  return {
    input: `${header ? 'a header' : 'nothing'}${trickle ? ', then empty messages' : ''}, and the stream never ends`,
    send: async () => {
      let open = true;
      const grant = grantFor({ taskId: `silent-${++uploads}` });
      async function* messages(): AsyncGenerator<UploadOutputsRequest> {
        if (header) yield { header: { grant } };
        while (open) {
          await new Promise((r) => setTimeout(r, IDLE_MS / 5));
          if (trickle && open) yield {};
        }
      }
      try {
        // A deadline of its own, far past the idle limit: without the limit, the call would wait for good.
        return await client.uploadOutputs(messages(), { deadline: new Date(Date.now() + 20 * IDLE_MS) });
      } finally {
        open = false;
      }
    },
    expect: { code: 'DEADLINE_EXCEEDED', naming: 'STORAGE_UPLOAD_IDLE_MS', why: 'the silent upload is cut off and its files removed' },
  };
}

const uploadRows = rpcRows('StorageService.UploadOutputs', [
  ...textCases('header.grant', (grant) => uploadWith(() => [{ header: { grant } }, { data: tar() }]), {
    naming: 'grant',
    required: true,
    refusal: GRANT_REFUSED,
  }),
  { input: 'no message at all', send: () => uploadWith(() => []), expect: refused('header') },
  { input: 'data before the header', send: () => uploadWith((header) => [{ data: tar() }, header]), expect: refused('header') },
  {
    input: 'a second header',
    send: () => uploadWith((header) => [header, { data: tar() }, { header: { grant: grantFor({ taskId: 'other' }) } }]),
    expect: refused('header'),
  },
  { input: 'data of 2 MiB in one message', send: () => uploadWith((header) => [header, { data: Buffer.alloc(2 * MiB) }]), expect: refused('data') },
  { input: 'data of 10 MiB in one message', send: () => uploadWith((header) => [header, { data: Buffer.alloc(10 * MiB) }]), expect: TOO_BIG },
  {
    input: 'a message that is not protobuf, after the header',
    send: () => uploadWith((header) => [header, Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f])]),
    expect: refused('cloudai.v1.UploadOutputsRequest'),
  },
  neverEnding({ header: false, trickle: false }),
  neverEnding({ header: true, trickle: false }),
  neverEnding({ header: true, trickle: true }),
]);

/** Task-id cases: a well-formed id of a task with no outputs is taken, and has nothing. */
const taskIdCases = (send: (taskId: string) => Promise<unknown>, nothing: string) =>
  idCases('task_id', send, { unknown: { value: 'never-uploaded', expect: { accepted: nothing } } });

const downloadWith = (taskId: string, path = '') => drain(client.downloadFiles({ taskId, path }));

const rows: HostileRow[] = [
  ...uploadRows,
  ...rpcRows('StorageService.ListFiles', taskIdCases((taskId) => client.listFiles({ taskId }), 'a task that stored nothing lists no files')),
  ...rpcRows('StorageService.DownloadFiles', [
    ...taskIdCases((taskId) => downloadWith(taskId), 'a task that stored nothing downloads as no files'),
    ...textCases('path', (path) => downloadWith(KEPT, path), {
      // A task may name its files so; storage has none of those names here.
      controls: { code: 'NOT_FOUND', naming: 'has no output file', why: 'a well-formed path of no stored file' },
    }),
  ]),
  ...rpcRows('StorageService.DeleteFiles', taskIdCases((taskId) => client.deleteFiles({ taskId }), 'a task that stored nothing deletes nothing')),
];

describe.each([
  { name: 'fs', skip: false },
  { name: 's3', skip: !s3Bin },
] as const)('hostile input to storage on the $name backend', (backend) => {
  beforeAll(async () => {
    if (!backend.skip) await open(backend.name);
  });
  afterAll(close);
  beforeEach(({ skip }) => {
    if (backend.skip) skip();
  });

  it.each(rows.map((row) => [`${row.rpc}: ${row.input}`, row] as const))('%s', async (_, row) => {
    const before = await stored();
    expect(await judge(row)).toBeUndefined();
    expect(await stored()).toEqual(before);
    await masterServed();
  });

  it('refuses a 100 MiB message by its size, and still takes a good upload', async () => {
    const before = await stored();
    const row = { input: '100 MiB', send: () => uploadWith(() => [unknownFieldMessage(100 * MiB)]), expect: TOO_BIG };
    expect(await judge(row)).toBeUndefined();
    expect(await stored()).toEqual(before);
    const good = await client.uploadOutputs(uploadMessages({ taskId: 'good-after' }, [tar()]));
    expect(good.files.map((f) => f.path)).toEqual(['out.txt']);
    await masterServed();
  });
});
