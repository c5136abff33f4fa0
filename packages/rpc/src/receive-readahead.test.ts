import grpcServerCall from '@grpc/grpc-js/build/src/server-call.js';
import { describe, expect, it } from 'vitest';
import { limitClientStreamReadahead } from './receive-readahead.js';

type Call = new (path: string, call: object, metadata: object) => { readableHighWaterMark: number; readableObjectMode: boolean };
const calls = grpcServerCall as unknown as { ServerDuplexStreamImpl: Call };

describe('limitClientStreamReadahead', () => {
  it("makes the client-streaming calls grpc-js serves from then on hold that many messages, not Node's 16", () => {
    expect(new calls.ServerDuplexStreamImpl('/p', {}, {}).readableHighWaterMark).toBe(16);
    limitClientStreamReadahead(2);
    const call = new calls.ServerDuplexStreamImpl('/p', {}, {});
    expect(call.readableHighWaterMark).toBe(2);
    expect(call.readableObjectMode).toBe(true);
  });

  it('refuses a readahead of no messages', () => {
    expect(() => limitClientStreamReadahead(0)).toThrow(/must be a whole number of messages >= 1, got 0/);
  });
});
