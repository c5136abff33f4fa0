import grpcServerCall from '@grpc/grpc-js/build/src/server-call.js';
import { afterEach, describe, expect, it } from 'vitest';
import { limitCallQueue } from './readahead-limit.js';

type Duplex = new (path: string, call: object, metadata: object) => { readableHighWaterMark: number; writableHighWaterMark: number };
const calls = grpcServerCall as unknown as { ServerDuplexStreamImpl: Duplex };
const original = calls.ServerDuplexStreamImpl;
afterEach(() => {
  calls.ServerDuplexStreamImpl = original;
});

describe('limitCallQueue', () => {
  it('keeps the limit of one side of a class when the other side is limited, and replaces a side limited again', () => {
    limitCallQueue(grpcServerCall, 'ServerDuplexStreamImpl', 'readable', 6);
    limitCallQueue(grpcServerCall, 'ServerDuplexStreamImpl', 'writable', 2);
    const both = new calls.ServerDuplexStreamImpl('/p', {}, {});
    expect([both.readableHighWaterMark, both.writableHighWaterMark]).toEqual([6, 2]);
    limitCallQueue(grpcServerCall, 'ServerDuplexStreamImpl', 'readable', 3);
    const again = new calls.ServerDuplexStreamImpl('/p', {}, {});
    expect([again.readableHighWaterMark, again.writableHighWaterMark]).toEqual([3, 2]);
    // One subclass of grpc-js's own class, not a chain of them.
    expect(Object.getPrototypeOf(calls.ServerDuplexStreamImpl)).toBe(original);
  });

  it('names the class when grpc-js no longer exports it', () => {
    expect(() => limitCallQueue(grpcServerCall, 'NoSuchStreamImpl', 'readable', 2)).toThrow(/grpc-js internals changed: NoSuchStreamImpl is gone/);
  });
});
