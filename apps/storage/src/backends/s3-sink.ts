import { createHash } from 'node:crypto';
import { ObjectStoreError, type ObjectStore } from '@cloudai/object-store';
import { invalidArgument } from '@cloudai/rpc';
import { PathClaims, type EntrySink } from './entry-sink.js';

/** S3's longest key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

export interface S3SinkLimits {
  /**
   * Files up to this size are read whole, then stored in the background
   * while the next entries arrive; larger ones stream through a multipart
   * upload before the next entry is read.
   */
  smallFileBytes: number;
  /** Background puts at once, and the bytes they may hold between them. */
  maxInFlight: number;
  maxInFlightBytes: number;
}

export const DEFAULT_S3_SINK_LIMITS: S3SinkLimits = {
  smallFileBytes: 1024 * 1024,
  maxInFlight: 16,
  maxInFlightBytes: 8 * 1024 * 1024,
};

/**
 * Puts each tar entry of one upload as an object `<dir>/<path>`. Many small
 * files would each wait a round trip if put one after another, so those
 * are buffered and put in the background, a bounded number and size at
 * once: when the bound is reached the next entry waits, and with it the
 * parser and the gRPC stream (backpressure). A large file streams through
 * a multipart upload whose parts are bounded the same way. Memory is
 * (maxInFlightBytes + the object store's parts in flight), whatever the
 * upload's size.
 */
export class S3EntrySink implements EntrySink {
  private readonly claims = new PathClaims();
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightBytes = 0;
  private failure: unknown;
  private readonly stopped = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly objects: ObjectStore,
    private readonly dir: string,
    signal: AbortSignal | undefined,
    private readonly limits: S3SinkLimits = DEFAULT_S3_SINK_LIMITS,
  ) {
    this.signal = signal ? AbortSignal.any([signal, this.stopped.signal]) : this.stopped.signal;
  }

  async makeDir(path: string, shown: string): Promise<void> {
    // Object stores have no folders: an empty one is not kept (downloads
    // list files only, on either backend), but it still clashes with a file.
    this.claims.claimDir(path, shown);
  }

  async writeFile(path: string, declaredSize: number, body: AsyncIterable<Buffer>, shown: string): Promise<{ sha256: string }> {
    this.claims.claimFile(path, shown);
    const name = this.nameOf(path, shown);
    this.throwIfFailed();
    if (declaredSize > this.limits.smallFileBytes) {
      try {
        const put = await this.objects.putObjectStream(name, declaredSize, body, { signal: this.signal });
        return { sha256: put.sha256 };
      } catch (err) {
        throw err instanceof ObjectStoreError && err.code === 'SizeMismatch' ? truncated(shown, declaredSize) : err;
      }
    }
    const data = Buffer.allocUnsafe(declaredSize);
    let filled = 0;
    for await (const chunk of body) {
      // The parser never gives an entry more than its header's size.
      chunk.copy(data, filled);
      filled += chunk.length;
    }
    if (filled !== declaredSize) throw truncated(shown, declaredSize, filled);
    const sha256 = createHash('sha256').update(data).digest('hex');
    while (this.inFlight.size >= this.limits.maxInFlight || (this.inFlight.size > 0 && this.inFlightBytes + declaredSize > this.limits.maxInFlightBytes)) {
      await Promise.race(this.inFlight);
    }
    this.throwIfFailed();
    this.inFlightBytes += declaredSize;
    const put: Promise<void> = this.objects
      .putObjectStream(name, declaredSize, [data], { signal: this.signal, expectedSha256: sha256 })
      .then(
        () => {},
        (err: unknown) => {
          // The first failure fails the upload; the others stop with it.
          if (this.failure === undefined) this.failure = err;
          this.stopped.abort(err);
        },
      )
      .finally(() => {
        this.inFlightBytes -= declaredSize;
        this.inFlight.delete(put);
      });
    this.inFlight.add(put);
    return { sha256 };
  }

  /** Waits for every background put; fails with the first that failed. */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /** Stops every put in flight and waits for them to end (each aborts its own multipart upload). */
  async stop(reason: unknown): Promise<void> {
    this.stopped.abort(reason);
    await Promise.allSettled(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private nameOf(path: string, shown: string): string {
    // S3 would take them, but its XML listings cannot carry every one of
    // them back, and @cloudai/object-store refuses them in names.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(path)) {
      throw invalidArgument(`tar entry ${shown} has a control character in its name, which the s3 backend does not store`);
    }
    const name = `${this.dir}/${path}`;
    // Checked here so that it is the entry's fault (INVALID_ARGUMENT), not storage's.
    if (Buffer.byteLength(this.objects.prefix + name) > MAX_KEY_BYTES) {
      throw invalidArgument(
        `tar entry ${shown} would be stored under a key longer than the object store's ${MAX_KEY_BYTES} bytes; use a shorter path`,
      );
    }
    return name;
  }
}

const truncated = (shown: string, declared: number, got?: number) =>
  invalidArgument(`truncated or corrupt tar stream: ${shown} ended ${got === undefined ? 'before' : `after ${got} of`} its ${declared} bytes`);
