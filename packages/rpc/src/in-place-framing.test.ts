import { allocWithFrameRoom, StorageServiceDefinition, type StorageServiceImplementation } from '@cloudai/proto';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, type ServiceClient } from './client.js';
import { notFound } from './errors.js';
// The package's entry installs the framing, as the apps get it.
import { inPlaceFramed, startGrpcServer, type RunningGrpcServer } from './index.js';

const CHUNK = 1024 * 1024;
const CHUNKS = 5;

/** Chunk i of the test data, with room in front of it unless `plain`. */
function chunk(i: number, plain = false): Buffer {
  const b = plain ? Buffer.allocUnsafe(CHUNK) : allocWithFrameRoom(CHUNK);
  for (let j = 0; j < CHUNK; j += 4) b.writeUInt32LE((i * CHUNK + j) >>> 0, j);
  return b;
}

const expected = createHash('sha256');
for (let i = 0; i < CHUNKS; i++) expected.update(chunk(i, true));
const expectedDigest = expected.digest('hex');

let server: RunningGrpcServer;
let client: ServiceClient<typeof StorageServiceDefinition>;
/** Whether the download sends chunks with room, or plain ones that must be copied. */
let downloadWithRoom = true;
/** The chunks the server's download sent. */
const served: Buffer[] = [];

beforeAll(async () => {
  const impl: StorageServiceImplementation = {
    async uploadOutputs(requests) {
      const hash = createHash('sha256');
      let totalBytes = 0;
      for await (const r of requests) {
        if (r.data) {
          hash.update(r.data);
          totalBytes += r.data.length;
        }
      }
      return { files: [{ path: 'all', size: totalBytes, sha256: hash.digest('hex') }], totalBytes };
    },
    async *downloadFiles() {
      for (let i = 0; i < CHUNKS; i++) {
        const data = chunk(i, !downloadWithRoom);
        served.push(data);
        yield { data };
      }
    },
    async listFiles() {
      throw notFound('none');
    },
    async deleteFiles() {
      throw notFound('none');
    },
  };
  server = await startGrpcServer({
    listenAddr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    register: (s) => s.add(StorageServiceDefinition, impl),
  });
  client = connect(StorageServiceDefinition, server.address);
});

afterAll(async () => {
  client.close();
  await server.shutdown(1_000);
});

async function download(): Promise<string> {
  const hash = createHash('sha256');
  for await (const part of client.client.downloadFiles({ taskId: 't', path: '' })) if (part.data) hash.update(part.data);
  return hash.digest('hex');
}

describe('chunks framed in place', () => {
  it('uploads chunks with room intact, framing each without a copy', async () => {
    const before = inPlaceFramed();
    async function* requests() {
      yield { header: { grant: 'g' } };
      for (let i = 0; i < CHUNKS; i++) yield { data: chunk(i) };
    }
    const res = await client.client.uploadOutputs(requests());
    expect(res.files[0]).toEqual({ path: 'all', size: CHUNKS * CHUNK, sha256: expectedDigest });
    // Client and server run in this process: each chunk once by the client.
    expect(inPlaceFramed() - before).toBe(CHUNKS);
  });

  it('downloads chunks with room intact, framing each without a copy', async () => {
    downloadWithRoom = true;
    const before = inPlaceFramed();
    expect(await download()).toBe(expectedDigest);
    expect(inPlaceFramed() - before).toBe(CHUNKS);
  });

  it('still sends chunks without room intact (encoded with room, framed without a second copy)', async () => {
    downloadWithRoom = false;
    const before = inPlaceFramed();
    expect(await download()).toBe(expectedDigest);
    expect(inPlaceFramed() - before).toBe(CHUNKS);
  });

  it('releases each chunk it sent once written, on both sides (memory back at once, not at the next collection)', async () => {
    const sent: Buffer[] = [];
    async function* requests() {
      yield { header: { grant: 'g' } };
      for (let i = 0; i < CHUNKS; i++) {
        const data = chunk(i);
        sent.push(data);
        yield { data };
      }
    }
    const res = await client.client.uploadOutputs(requests());
    expect(res.files[0]?.sha256).toBe(expectedDigest);
    expect(sent.map((c) => c.length)).toEqual(Array(CHUNKS).fill(0));
    downloadWithRoom = true;
    served.length = 0;
    expect(await download()).toBe(expectedDigest);
    // Released as the server's writes complete, which may be just after the client has read the end.
    await vi.waitFor(() => expect(served.map((c) => c.length)).toEqual(Array(CHUNKS).fill(0)));
  });

  it('keeps client messages that a retry may send again (up to grpc-js retry buffer of 1 MiB)', async () => {
    const sent: Buffer[] = [];
    async function* requests() {
      yield { header: { grant: 'g' } };
      for (let i = 0; i < 4; i++) {
        const data = allocWithFrameRoom(256 * 1024).fill(i);
        sent.push(data);
        yield { data };
      }
    }
    await client.client.uploadOutputs(requests());
    expect(sent.map((c) => c.length)).toEqual(Array(4).fill(256 * 1024));
  });

  it('frames other messages by copying, as grpc-js does', async () => {
    const before = inPlaceFramed();
    await expect(client.client.listFiles({ taskId: 't' })).rejects.toThrow(/none/);
    expect(inPlaceFramed()).toBe(before);
  });
});
