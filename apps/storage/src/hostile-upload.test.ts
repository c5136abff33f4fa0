import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError, Status } from 'nice-grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireS3Server, waitFor } from '@cloudai/testing';
import { grantFor, MiB, startHarness, uploadMessages, walk, type Harness } from './testing/harness.js';
import { startS3Fixture, type S3Fixture } from './testing/s3.js';
import { body, chunks, END, file, header, pax, paxEntry } from './testing/tar.js';

const s3Bin = requireS3Server('hostile uploads to the s3 backend');

/** Each backend: its storage env, and the proof that a refused upload left nothing stored or staged. */
interface Backend {
  name: string;
  skip: boolean;
  env(): Promise<Record<string, string>>;
  expectNothingStored(h: Harness): Promise<void>;
  close(): Promise<void>;
}

const fsBackend: Backend = {
  name: 'fs',
  skip: false,
  env: async () => ({}),
  async expectNothingStored(h) {
    // No task folder: the root holds only the (empty) working folder.
    expect(await readdir(h.root)).toEqual(['.incoming']);
    await waitFor(async () => ((await readdir(join(h.root, '.incoming'))).length === 0 ? true : undefined), {
      timeoutMs: 5_000,
      what: '.incoming to be emptied',
    });
  },
  close: async () => {},
};

let s3: S3Fixture | undefined;
const s3Backend: Backend = {
  name: 's3',
  skip: !s3Bin,
  async env() {
    s3 = await startS3Fixture(s3Bin!);
    return s3.env;
  },
  async expectNothingStored() {
    // No object visible, none staged, no multipart upload left open.
    await waitFor(async () => {
      const { objects, uploads } = await s3!.contents();
      return objects.length === 0 && uploads.length === 0 ? true : undefined;
    }, { timeoutMs: 5_000, what: 'the bucket to be emptied' });
  },
  close: async () => {
    await s3?.close();
  },
};

/**
 * Hostile tar streams sent over real gRPC, to each backend. Each must fail
 * with a clear status and leave no trace: nothing outside the root, no
 * task folder or object, no records, nothing staged.
 */
describe.each([fsBackend, s3Backend])('hostile uploads to the $name backend', (backend) => {
  let h: Harness;
  let n = 0;

  beforeAll(async () => {
    if (backend.skip) return;
    h = await startHarness(await backend.env());
  });
  afterAll(async () => {
    await h?.close();
    await backend.close();
  });
  beforeEach(({ skip }) => {
    if (backend.skip) skip();
  });

  /** Everything under the temp folder that is neither in the root nor the store's files. */
  async function outsideRoot(): Promise<string[]> {
    return (await walk(h.tmp.path)).filter(
      (p) =>
        p !== 'root' &&
        !p.startsWith('root/') &&
        p !== 'data' &&
        !/^data\/storage(\/metadata\.db(-wal|-shm|-journal)?)?$/.test(p) &&
        // where the harness put the master's public key
        !/^data\/master(\/signing-key\.pub)?$/.test(p),
    );
  }

  async function expectRejected(
    parts: Iterable<Buffer> | AsyncIterable<Buffer>,
    code: Status,
    message: RegExp,
  ): Promise<void> {
    const taskId = `hostile-${++n}`;
    const err = await h.client.uploadOutputs(uploadMessages({ taskId }, parts)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(code);
    expect((err as ClientError).details).toMatch(message);
    expect(await outsideRoot()).toEqual([]);
    await backend.expectNothingStored(h);
    expect(await h.store.listFileMetadata(taskId)).toEqual([]);
  }

  /** Files under the root this process still holds open (a leak keeps a deleted file's space). */
  async function openFilesUnderRoot(): Promise<string[]> {
    const fds = await readdir('/proc/self/fd');
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    return targets.filter((t) => t.startsWith(h.root + '/'));
  }

  // The absolute path of a would-be escape, inside the test's temp folder.
  const escapeTarget = () => join(h.tmp.path, 'escaped');

  it('refuses PAX records that node-tar would silently drop: a newline inside, a wrong length', async () => {
    // Read line by line, the record would vanish and the file be stored as
    // "evil.txt" (the smuggled second line) or under its cut ustar name.
    const smuggled = [pax({ path: `${'y'.repeat(120)}\n17 path=evil.txt` }), header({ name: 'cut', size: 1 }), body('x'), END];
    await expectRejected(smuggled, Status.INVALID_ARGUMENT, /PAX header has a record holding a newline/);
    const text = Buffer.from('99 path=a.txt\n');
    const wrongLength = [header({ name: 'PaxHeader', type: 'x', size: text.length }), body(text), file('b.txt', 'b'), END];
    await expectRejected(wrongLength, Status.INVALID_ARGUMENT, /PAX header has a malformed record/);
  });

  it('refuses an absolute path', async () => {
    await expectRejected([file(escapeTarget(), 'pwned'), END], Status.INVALID_ARGUMENT, /is an absolute path/);
  });

  it('refuses ../ traversal, even after a good file', async () => {
    const parts = [file('fine.txt', 'ok'), file('../../../escaped', 'pwned'), END];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /contains a "\.\." segment/);
  });

  it('refuses a symlink, so a file through it never gets written', async () => {
    const parts = [
      header({ name: 'link', type: '2', linkname: h.tmp.path }),
      file('link/escaped', 'pwned'),
      END,
    ];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /"link" is a SymbolicLink/);
  });

  it('refuses a hard link to /etc/passwd', async () => {
    const parts = [header({ name: 'passwd', type: '1', linkname: '/etc/passwd' }), END];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /"passwd" is a Link/);
  });

  it('refuses a FIFO and a character device', async () => {
    await expectRejected([header({ name: 'pipe', type: '6' }), END], Status.INVALID_ARGUMENT, /"pipe" is a FIFO/);
    await expectRejected(
      [header({ name: 'null', type: '3' }), END],
      Status.INVALID_ARGUMENT,
      /"null" is a CharacterDevice/,
    );
  });

  it('refuses a NUL inside a ustar name field', async () => {
    const name = Buffer.concat([Buffer.from('ok.txt'), Buffer.from([0]), Buffer.from('/../../../escaped')]);
    const parts = [header({ name, size: 5 }), body('pwned'), END];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /NUL byte/);
  });

  it('refuses a NUL inside a pax path', async () => {
    const parts = [pax({ path: 'ok.txt\0/../../../escaped' }), header({ name: 'x', size: 5 }), body('pwned'), END];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /NUL byte/);
  });

  it('refuses 10,000-level nesting given as one long path', async () => {
    const deep = `${'d/'.repeat(10_000)}f`;
    await expectRejected([paxEntry(deep, '0', Buffer.from('x')), END], Status.INVALID_ARGUMENT, /longer than 4096/);
  });

  it('refuses 10,000-level nesting given folder by folder, stopping at the depth limit', async () => {
    let sent = 0;
    function* folders() {
      for (let depth = 1; depth <= 10_000; depth++) {
        sent = depth;
        yield paxEntry('d/'.repeat(depth), '5');
      }
      yield END;
    }
    await expectRejected(folders(), Status.INVALID_ARGUMENT, /nested 17 levels deep; the limit is 16/);
    // The call ended at the limit: the client was not made to send all 10,000.
    expect(sent).toBeLessThan(10_000);
  });

  it('refuses a short path nested past the depth limit (16 here)', async () => {
    await expectRejected([file(`${'a/'.repeat(16)}f`, 'x'), END], Status.INVALID_ARGUMENT, /limit is 16/);
  });

  it('refuses a segment over 255 bytes', async () => {
    await expectRejected([paxEntry('n'.repeat(256), '0'), END], Status.INVALID_ARGUMENT, /longer than 255 bytes/);
  });

  it('refuses a file that appears twice', async () => {
    const parts = [file('a.txt', 'one'), file('./a.txt', 'two'), END];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /appears twice/);
  });

  it('refuses an archive over the byte quota (8 MiB here)', async () => {
    const three = Buffer.alloc(3 * MiB, 7);
    const parts = [file('a.bin', three), file('b.bin', three), file('c.bin', three), END];
    await expectRejected(
      parts.flatMap((p) => [...chunks(p)]),
      Status.RESOURCE_EXHAUSTED,
      /outputs exceed the quota of 8388608 bytes/,
    );
  });

  it('refuses an archive over the file-count quota (50 here)', async () => {
    const parts = Array.from({ length: 51 }, (_, i) => file(`f${i}.txt`, String(i)));
    await expectRejected([...parts, END], Status.RESOURCE_EXHAUSTED, /outputs exceed the quota of 50 files/);
  });

  it('refuses a stream cut mid-file', async () => {
    const data = Buffer.alloc(MiB, 1);
    const parts = [file('ok.txt', 'fine'), header({ name: 'big.bin', size: data.length }), data.subarray(0, 300_000)];
    await expectRejected(parts, Status.INVALID_ARGUMENT, /truncated or corrupt tar stream/);
    expect(await openFilesUnderRoot()).toEqual([]);
  });

  it('refuses a stream cut between entries (no end-of-archive marker)', async () => {
    await expectRejected([file('ok.txt', 'fine')], Status.INVALID_ARGUMENT, /end-of-archive marker/);
  });

  it('refuses a stream cut mid-header and garbage', async () => {
    await expectRejected([header({ name: 'x', size: 1 }).subarray(0, 200)], Status.INVALID_ARGUMENT, /truncated/);
    await expectRejected([Buffer.alloc(2048, 0x41)], Status.INVALID_ARGUMENT, /truncated or corrupt tar stream/);
  });

  it('refuses compressed streams', async () => {
    const gz = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    await expectRejected([gz], Status.INVALID_ARGUMENT, /compressed tar streams are not accepted/);
  });

  it('refuses an upload without a header first, or with a second header', async () => {
    async function* noHeader() {
      yield { data: END };
    }
    const err = await h.client.uploadOutputs(noHeader()).catch((e: unknown) => e);
    expect((err as ClientError).code).toBe(Status.INVALID_ARGUMENT);
    expect((err as ClientError).details).toMatch(/first UploadOutputs message must be the header/);

    async function* noGrant() {
      yield { header: { grant: '' } };
    }
    const err2 = await h.client.uploadOutputs(noGrant()).catch((e: unknown) => e);
    expect((err2 as ClientError).code).toBe(Status.UNAUTHENTICATED);
    expect((err2 as ClientError).details).toMatch(/header.grant is required/);

    async function* twoHeaders() {
      yield* uploadMessages({ taskId: 'two-headers' }, [file('a', 'b')]);
      yield { header: { grant: grantFor({ taskId: 'other' }) } };
    }
    const err3 = await h.client.uploadOutputs(twoHeaders()).catch((e: unknown) => e);
    expect((err3 as ClientError).details).toMatch(/only the first UploadOutputs message may be a header/);
    await backend.expectNothingStored(h);
  });

  it('cleans up after a client that cancels mid-upload', async () => {
    const controller = new AbortController();
    async function* slow() {
      yield header({ name: 'big.bin', size: 4 * MiB });
      yield Buffer.alloc(MiB, 2);
      controller.abort();
      await new Promise((r) => setTimeout(r, 1_000));
      yield Buffer.alloc(MiB, 2);
    }
    const err = await h.client
      .uploadOutputs(uploadMessages({ taskId: 'cancelled' }, slow()), { signal: controller.signal })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    await backend.expectNothingStored(h);
    expect(await outsideRoot()).toEqual([]);
    // The half-written big.bin was closed, not just unlinked.
    expect(await openFilesUnderRoot()).toEqual([]);
  });
});
