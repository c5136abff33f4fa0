import type { LogStreamName } from '@cloudai/domain';

const HEADER_BYTES = 8;

/**
 * Splits Docker's multiplexed attach stream (Tty false) into stdout and
 * stderr. Each frame is an 8-byte header (stream type, 3 zero bytes, payload
 * length as uint32 big-endian) followed by the payload. Payload bytes are
 * handed on as soon as they arrive, so a frame of any size never has to be
 * held whole, and nothing is copied except a header split across reads.
 */
export class DockerDemuxer {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFilled = 0;
  /** payload bytes still to come in the current frame */
  private remaining = 0;
  private stream: LogStreamName | undefined;

  constructor(private readonly onData: (stream: LogStreamName, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER_BYTES - this.headerFilled, chunk.length - at);
        chunk.copy(this.header, this.headerFilled, at, at + take);
        this.headerFilled += take;
        at += take;
        if (this.headerFilled < HEADER_BYTES) return;
        this.headerFilled = 0;
        const type = this.header[0];
        // 0 is stdin, which is never attached here; anything else means the
        // stream is not multiplexed at all, which a Tty-less container never does.
        this.stream = type === 1 ? 'stdout' : type === 2 ? 'stderr' : undefined;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      if (this.stream) this.onData(this.stream, chunk.subarray(at, at + take));
      this.remaining -= take;
      at += take;
    }
  }
}
