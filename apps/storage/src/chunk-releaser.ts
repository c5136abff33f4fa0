import { isReleasable, releaseChunk } from '@cloudai/rpc';

/**
 * Releases an upload's received messages (1 MiB each, in buffers of their
 * own: see @cloudai/rpc's chunk-release.ts) as soon as the extraction is past
 * them, so that memory holds only the messages still being parsed and
 * written, not every one the collector has not reached yet.
 *
 * The tar parser hands entry bodies on as views of the received messages,
 * in stream order, and entries are stored one after another; so once the
 * file writer is done with a view of message M (written and hashed, and
 * with every byte before it), no view of an earlier message is held by
 * anyone: not the parser (which keeps at most the tail of the latest
 * message), not a later entry (whose bytes come after), not the writer.
 * Bytes the parser copied (a header split across messages) are views of
 * its own copy, which is not tracked here and tells nothing.
 */
export class ChunkReleaser {
  /** The releasable messages received and not yet released, oldest first. */
  private readonly held: ArrayBufferLike[] = [];

  /** A message as it arrives, before the parser sees it. */
  received(message: Uint8Array): void {
    if (isReleasable(message)) this.held.push(message.buffer);
  }

  /** The writer is done with `view` and with every byte of the upload before it. */
  doneWith(view: Uint8Array): void {
    const at = this.held.indexOf(view.buffer);
    if (at <= 0) return;
    for (const buffer of this.held.splice(0, at)) releaseChunk(new Uint8Array(buffer));
  }

  /** Nothing reads any message any more (the extraction has ended, either way). */
  releaseAll(): void {
    for (const buffer of this.held.splice(0)) releaseChunk(new Uint8Array(buffer));
  }
}
