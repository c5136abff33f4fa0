import { isShared } from '@cloudai/proto';

/**
 * Bulk chunks (1 MiB upload and download messages) each live in an
 * ArrayBuffer of their own, whose memory V8 returns only when the collector
 * finds the buffer dead. The JS objects are small, so young collections are
 * rare, and the buffers pile up until the external-memory limit forces a
 * full collection: tens of MiB of dead chunks on every side of a transfer,
 * and the largest share of the sender's CPU in profiles of a 1 GiB upload.
 * A side that knows it is done with a chunk releases it here instead: the
 * buffer is detached (ArrayBuffer.prototype.transfer to length 0), which
 * frees its memory at once; every view of it becomes empty.
 *
 * Only a buffer the chunk fills (but for a message's few framing bytes) is
 * released: a smaller view may share its buffer with unrelated data (Node's
 * pool of small Buffers), which must never be detached. Nor is a message
 * that several calls send (@cloudai/proto's markShared): one call's write
 * is not the last use of it.
 */

/** Bytes of a buffer a releasable chunk may leave uncovered: gRPC's prefix, a tag and a length, or @cloudai/proto's frame room. */
const MAX_SLACK_BYTES = 16;
/** Smaller chunks are left to the collector: they may come from Node's Buffer pool, and they are cheap. */
const MIN_RELEASE_BYTES = 64 * 1024;

/** Whether releasing `chunk` would free its whole buffer and nothing else's. */
export function isReleasable(chunk: Uint8Array): boolean {
  const buffer = chunk.buffer;
  return (
    buffer instanceof ArrayBuffer &&
    !buffer.detached &&
    !buffer.resizable &&
    buffer.byteLength >= MIN_RELEASE_BYTES &&
    buffer.byteLength - chunk.byteLength <= MAX_SLACK_BYTES &&
    !isShared(chunk)
  );
}

/**
 * Frees the memory of the buffer behind `chunk` now, when the chunk fills it
 * (see isReleasable); returns whether it did. The caller must be the last
 * user of every view of that buffer: they all read as empty afterwards.
 */
export function releaseChunk(chunk: Uint8Array): boolean {
  if (!isReleasable(chunk)) return false;
  (chunk.buffer as ArrayBuffer).transfer(0);
  return true;
}

/**
 * Fails unless releasing works in this runtime: a chunk of a message-sized
 * buffer is released (its view empties) and a small pooled Buffer is not.
 * Called at start by the apps that rely on it, so a runtime without
 * ArrayBuffer.prototype.transfer fails there and not as memory growth.
 */
export function checkChunkRelease(): void {
  const whole = Buffer.allocUnsafeSlow(1024 * 1024 + 9);
  const chunk = whole.subarray(9);
  const pooled = Buffer.from('pooled');
  if (typeof ArrayBuffer.prototype.transfer !== 'function' || !releaseChunk(chunk) || chunk.length !== 0 || whole.length !== 0) {
    throw new Error('this Node.js cannot release bulk chunks (ArrayBuffer.prototype.transfer); use Node.js 24');
  }
  if (releaseChunk(pooled) || pooled.toString() !== 'pooled') {
    throw new Error('chunk release would detach a pooled Buffer; update packages/rpc/src/chunk-release.ts');
  }
}
