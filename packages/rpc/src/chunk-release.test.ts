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
    // A second follower takes the same encoding before the first one's write is done...
    const second = responseType.encode(responseType.fromPartial({ entry })).finish();
    expect(second).toBe(first);
    // ...so the first follower's finished write must not take the second's bytes with it.
    expect(releaseChunk(frame!)).toBe(false);
    expect(StreamLogsResponse.decode(second).entry?.chunk?.data).toEqual(data);
  });

  it("frees a lone follower's entry once written, and encodes it anew for a follower that comes after", () => {
    const data = Buffer.alloc(256 * 1024, 8);
    const entry = { position: 10, attempt: 1, marker: false, chunk: { seq: 4, stream: LogStream.LOG_STREAM_STDERR, ts: new Date(1_700_000_000_000), data, marker: false } };
    const lone = responseType.encode(responseType.fromPartial({ entry })).finish();
    expect(releaseChunk(frameInPlace(lone)!)).toBe(true);
    expect(lone.byteLength).toBe(0);
    const later = responseType.encode(responseType.fromPartial({ entry })).finish();
    // (Compared by identity: matchers would read the detached view.)
    expect(later === lone).toBe(false);
    expect(later.byteLength).toBeGreaterThan(data.length);
    expect(StreamLogsResponse.decode(later).entry?.chunk?.data).toEqual(data);
  });
});
