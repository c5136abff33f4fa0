import grpcCall from '@grpc/grpc-js/build/src/call.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from './client.js';
import { limitResponseStreamReadahead } from './response-readahead.js';
import type { RunningGrpcServer } from './server.js';
import { startBulkEchoServer } from './testing/bulk-echo-server.js';
import { EchoDefinition } from './testing/echo-service.js';
import { settled } from './testing/settled.js';

type Stream = new (deserialize: (bytes: Buffer) => unknown) => { readableHighWaterMark: number; readableObjectMode: boolean };
const calls = grpcCall as unknown as { ClientReadableStreamImpl: Stream };
/** grpc-js's own class, put back after each test: a retried test starts unpatched. */
const original = calls.ClientReadableStreamImpl;
afterEach(() => {
  calls.ClientReadableStreamImpl = original;
});

const servers: RunningGrpcServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.shutdown(1_000))));

/** The echo service as a client sees it, counting the response messages gRPC has received and decoded. */
function countingEcho() {
  const received = { count: 0 };
  const stream = EchoDefinition.stream;
  const definition = {
    ...EchoDefinition,
    stream: {
      ...stream,
      responseDeserialize: (bytes: Uint8Array) => {
        received.count++;
        return stream.responseDeserialize(bytes);
      },
    },
  };
  return { definition, received };
}

describe('limitResponseStreamReadahead', () => {
  it("makes the server-streaming calls grpc-js starts from then on hold that many messages, not Node's 16", () => {
    const deserialize = (b: Buffer) => b;
    expect(new calls.ClientReadableStreamImpl(deserialize).readableHighWaterMark).toBe(16);
    limitResponseStreamReadahead(4);
    expect(new calls.ClientReadableStreamImpl(deserialize).readableHighWaterMark).toBe(4);
    // A second limit replaces the first rather than wrapping it.
    limitResponseStreamReadahead(2);
    const call = new calls.ClientReadableStreamImpl(deserialize);
    expect(call.readableHighWaterMark).toBe(2);
    expect(call.readableObjectMode).toBe(true);
  });

  it('stops reading from HTTP/2 once that many messages wait, and the stream still arrives whole', async () => {
    limitResponseStreamReadahead(2);
    // 40 messages of 256 KiB: the 8 MiB window would let the server send them all at once.
    const { server } = await startBulkEchoServer(40, 256 * 1024);
    servers.push(server);
    const { definition, received: decoded } = countingEcho();
    const echo = connect(definition, server.address);
    try {
      const stream = echo.client.stream({ text: 'x' })[Symbol.asyncIterator]();
      const first = await stream.next();
      expect(first.value?.text.startsWith('0:')).toBe(true);
      // The reader stalls here: gRPC reads on until its queue is full (the rest waits in HTTP/2's window).
      const ahead = await settled(() => decoded.count);
      // The one read and two held (one more may be in decoding): with grpc-js's 16 it is 17.
      expect(ahead).toBeLessThanOrEqual(4);
      let received = 1;
      for (let next = await stream.next(); !next.done; next = await stream.next()) {
        expect(next.value.text.startsWith(`${received}:`)).toBe(true);
        expect(next.value.text.length).toBe(`${received}:`.length + 256 * 1024);
        received++;
      }
      expect(received).toBe(40);
    } finally {
      echo.close();
    }
  });

  it('refuses a readahead of no messages', () => {
    expect(() => limitResponseStreamReadahead(0)).toThrow(/must be a whole number of messages >= 1, got 0/);
  });
});
