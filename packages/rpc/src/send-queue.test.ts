import grpcCall from '@grpc/grpc-js/build/src/call.js';
import grpcServerCall from '@grpc/grpc-js/build/src/server-call.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from './client.js';
import { limitResponseStreamReadahead } from './response-readahead.js';
import { limitServerStreamSendQueue } from './send-queue.js';
import type { RunningGrpcServer } from './server.js';
import { startBulkEchoServer } from './testing/bulk-echo-server.js';
import { EchoDefinition } from './testing/echo-service.js';
import { settled } from './testing/settled.js';

type Classes = Record<string, unknown>;
const serverCalls = grpcServerCall as unknown as Classes;
const clientCalls = grpcCall as unknown as Classes;
/** grpc-js's own classes, put back after each test: the limits are process-wide. */
const originals = { server: serverCalls.ServerWritableStreamImpl, client: clientCalls.ClientReadableStreamImpl };
afterEach(() => {
  serverCalls.ServerWritableStreamImpl = originals.server;
  clientCalls.ClientReadableStreamImpl = originals.client;
});

const servers: RunningGrpcServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.shutdown(1_000))));

/** Messages of 256 KiB the server's stream has made for a client that reads one and stalls. */
async function madeForAStalledReader(): Promise<{ made: number; rest: () => Promise<number> }> {
  const { server, made } = await startBulkEchoServer(60, 256 * 1024);
  servers.push(server);
  // The client holds one message and a 64 KiB window: what else the server made waits on its side.
  limitResponseStreamReadahead(1);
  const echo = connect(EchoDefinition, server.address, { receiveWindowBytes: 64 * 1024 });
  const stream = echo.client.stream({ text: 'x' })[Symbol.asyncIterator]();
  expect((await stream.next()).value?.text.startsWith('0:')).toBe(true);
  const count = await settled(() => made.count);
  const rest = async () => {
    let received = 1;
    try {
      for (let next = await stream.next(); !next.done; next = await stream.next()) {
        expect(next.value.text.startsWith(`${received}:`)).toBe(true);
        received++;
      }
    } finally {
      echo.close();
    }
    return received;
  };
  return { made: count, rest };
}

describe('limitServerStreamSendQueue', () => {
  it("makes server-streaming calls queue that many messages for a slow client, not grpc-js's 16, and still send them all", async () => {
    limitServerStreamSendQueue(2);
    const { made, rest } = await madeForAStalledReader();
    // What the client took and the two queued (4 in practice); with grpc-js's 16 it is 16.
    expect(made).toBeLessThanOrEqual(10);
    expect(await rest()).toBe(60);
  });

  it('refuses a queue of no messages', () => {
    expect(() => limitServerStreamSendQueue(0)).toThrow(/must be a whole number of messages >= 1, got 0/);
  });
});
