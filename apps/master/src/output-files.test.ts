import { SigningKey } from '@cloudai/auth';
import { StorageServiceDefinition, type DownloadFilesRequest, type DownloadFilesResponse, type OutputFile } from '@cloudai/proto';
import { startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import { createHash, randomBytes } from 'node:crypto';
import { ServerError, Status } from 'nice-grpc';
import { createLogger } from '@cloudai/logger';
import { afterEach, describe, expect, it } from 'vitest';
import { MasterCredentials } from './auth/credentials.js';
import { OutputFiles } from './output-files.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const CHUNK = 64 * 1024;

interface FakeStorage {
  server: RunningGrpcServer;
  requests: DownloadFilesRequest[];
}

/** A storage replica serving `files` (honouring offset and length); `cutAfter` bytes into a download, it fails as a lost replica does. */
async function fakeStorage(files: Map<string, Buffer>, options: { cutAfter?: number; sha?: (path: string) => string } = {}): Promise<FakeStorage> {
  const requests: DownloadFilesRequest[] = [];
  const header = (path: string): OutputFile => ({ path, size: files.get(path)!.length, sha256: options.sha?.(path) ?? sha256(files.get(path)!) });
  const server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: createLogger({ name: 'fake-storage', level: 'silent' }),
    register: (s) =>
      s.add(StorageServiceDefinition, {
        async uploadOutputs() {
          throw new ServerError(Status.UNIMPLEMENTED, 'not here');
        },
        async listFiles() {
          const listed = [...files.keys()].map(header);
          return { files: listed, totalBytes: listed.reduce((n, f) => n + f.size, 0) };
        },
        async *downloadFiles(request): AsyncGenerator<DownloadFilesResponse> {
          requests.push(request);
          let budget = options.cutAfter ?? Infinity;
          for (const path of request.path === '' ? [...files.keys()] : [request.path]) {
            yield { file: header(path) };
            const data = files.get(path)!;
            const end = request.length > 0 ? request.offset + request.length : data.length;
            for (let at = request.offset; at < end; at += CHUNK) {
              const piece = data.subarray(at, Math.min(end, at + CHUNK));
              if (piece.length > budget) throw new ServerError(Status.UNAVAILABLE, 'the replica went away');
              budget -= piece.length;
              yield { data: piece };
            }
          }
        },
        async deleteFiles() {
          return { deletedFiles: 0, deletedBytes: 0 };
        },
      }),
  });
  return { server, requests };
}

const servers: FakeStorage[] = [];
const relays: OutputFiles[] = [];

async function relayTo(...storages: FakeStorage[]): Promise<OutputFiles> {
  servers.push(...storages);
  const files = new OutputFiles(
    storages.map((s) => s.server.address),
    new MasterCredentials(SigningKey.generate()),
  );
  relays.push(files);
  return files;
}

/** The download as the caller receives it: each file's header and its bytes, in order. */
async function receive(files: OutputFiles, what: { path: string; offset?: number; length?: number }) {
  const got: { header: OutputFile; data: Buffer }[] = [];
  const parts: Buffer[] = [];
  for await (const part of files.download('task-1', { offset: 0, length: 0, ...what }, new AbortController().signal)) {
    if (part.file) {
      if (got.length) got[got.length - 1]!.data = Buffer.concat(parts.splice(0));
      got.push({ header: part.file, data: Buffer.alloc(0) });
    } else if (part.data) {
      parts.push(Buffer.from(part.data));
    }
  }
  if (got.length) got[got.length - 1]!.data = Buffer.concat(parts.splice(0));
  return got;
}

afterEach(async () => {
  for (const r of relays.splice(0)) r.close();
  await Promise.all(servers.splice(0).map((s) => s.server.shutdown(1_000)));
});

const big = randomBytes(10 * CHUNK + 123);
const task = () =>
  new Map<string, Buffer>([
    ['a.txt', Buffer.from('first\n')],
    ['models/big.bin', big],
    ['z.json', Buffer.from('{"last":true}\n')],
  ]);

describe('OutputFiles.download across storage replicas', () => {
  it('continues a file cut by a lost replica from another, from the byte where it stopped', async () => {
    const cutting = await fakeStorage(task(), { cutAfter: 3 * CHUNK });
    const other = await fakeStorage(task());
    const got = await receive(await relayTo(cutting, other), { path: 'models/big.bin' });
    expect(got.map((f) => f.header.path)).toEqual(['models/big.bin']);
    expect(got[0]!.data.equals(big)).toBe(true);
    expect(other.requests).toEqual([{ taskId: 'task-1', path: 'models/big.bin', offset: 3 * CHUNK, length: 0 }]);
  });

  it('keeps a piece a piece: a cut range continues with what is left of it', async () => {
    const cutting = await fakeStorage(task(), { cutAfter: 2 * CHUNK });
    const other = await fakeStorage(task());
    const got = await receive(await relayTo(cutting, other), { path: 'models/big.bin', offset: 1000, length: 5 * CHUNK });
    expect(got[0]!.data.equals(big.subarray(1000, 1000 + 5 * CHUNK))).toBe(true);
    expect(other.requests).toEqual([{ taskId: 'task-1', path: 'models/big.bin', offset: 1000 + 2 * CHUNK, length: 3 * CHUNK }]);
  });

  it('sends every file of a whole-task download once, in order, when the replica is lost midway', async () => {
    const cutting = await fakeStorage(task(), { cutAfter: 4 * CHUNK });
    const other = await fakeStorage(task());
    const got = await receive(await relayTo(cutting, other), { path: '' });
    expect(got.map((f) => [f.header.path, f.data.length])).toEqual([
      ['a.txt', 6],
      ['models/big.bin', big.length],
      ['z.json', 14],
    ]);
    for (const f of got) expect(sha256(f.data)).toBe(f.header.sha256);
    expect(other.requests.map((r) => [r.path, r.offset])).toEqual([
      // a.txt (6 bytes) and three chunks of big.bin fitted before the cut
      ['models/big.bin', 3 * CHUNK],
      ['z.json', 0],
    ]);
  });

  it('refuses to join two versions of a file: the replica that continues must hold the same one', async () => {
    const cutting = await fakeStorage(task(), { cutAfter: CHUNK });
    const changed = await fakeStorage(task(), { sha: () => 'f'.repeat(64) });
    const err = await receive(await relayTo(cutting, changed), { path: 'models/big.bin' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: Status.ABORTED, message: expect.stringContaining('changed during the download') });
  });

  it('with one storage, a cut download is the caller\'s error, naming storage', async () => {
    const only = await fakeStorage(task(), { cutAfter: CHUNK });
    const err = await receive(await relayTo(only), { path: 'models/big.bin' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: Status.UNAVAILABLE, message: `the storage service at ${only.server.address} is unreachable; try again` });
  });
});
