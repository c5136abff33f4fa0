import { frameInPlace, LogStream, StreamLogsResponse, TaskServiceDefinition } from '@cloudai/proto';
import { describe, expect, it } from 'vitest';
import { releaseChunk } from './chunk-release.js';

const responseType = TaskServiceDefinition.methods.streamLogs.responseType;

describe('releaseChunk', () => {
  it('frees a message-sized buffer a chunk fills, and leaves a pooled Buffer alone', () => {
    const whole = Buffer.allocUnsafeSlow(256 * 1024 + 5);
    const chunk = whole.subarray(5);
    expect(releaseChunk(chunk)).toBe(true);
    expect(whole.length).toBe(0);
    const pooled = Buffer.from('pooled');
    expect(releaseChunk(pooled)).toBe(false);
    expect(pooled.toString()).toBe('pooled');
  });

  it('never frees a log entry that one encoding serves to several followers', () => {
    // A 256 KiB chunk: well past the size from which sent frames are released.
    const data = Buffer.alloc(256 * 1024, 7);
    const entry = { position: 9, attempt: 1, marker: false, chunk: { seq: 3, stream: LogStream.LOG_STREAM_STDOUT, ts: new Date(1_700_000_000_000), data, marker: false } };
    // Each follower's stream encodes fromPartial(response), a new object holding the same chunk.
    const first = responseType.encode(responseType.fromPartial({ entry })).finish();
    const frame = frameInPlace(first);
    expect(frame).toBeDefined();
    // The first follower's write is done: its frame must not take the others' bytes with it.
    expect(releaseChunk(frame!)).toBe(false);
    const second = responseType.encode(responseType.fromPartial({ entry })).finish();
    expect(second).toBe(first);
    expect(StreamLogsResponse.decode(second).entry?.chunk?.data).toEqual(data);
  });
});
