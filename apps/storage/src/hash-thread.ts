import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * sha256 of large files on a thread of its own. Hashing a 1 GiB upload
 * takes ~950 ms of CPU (OpenSSL at ~1.1 GB/s), which on the event loop adds
 * to receiving, parsing and writing; on its own thread it runs beside them
 * on another core. Each chunk is copied once into a buffer that is moved
 * (not copied again) to the thread, so the caller may write and release its
 * own bytes at once. Small files are hashed inline: a thread round trip
 * would cost more than their hash.
 */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  let hash = hashes.get(m.id);
  if (hash === undefined) hashes.set(m.id, (hash = createHash('sha256')));
  if (m.chunk) {
    hash.update(m.chunk);
    const bytes = m.chunk.byteLength;
    m.chunk.buffer.transfer(0);
    parentPort.postMessage({ id: m.id, hashed: bytes });
  }
  if (m.end) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: hash.digest('hex') });
  }
  if (m.drop) hashes.delete(m.id);
});
`;

/** Files at least this large are hashed on the thread. */
export const THREAD_HASH_MIN_BYTES = 1024 * 1024;
/** Bytes sent to the thread and not hashed yet, at most: the caller waits beyond. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** One file's sha256, fed in order. */
export interface FileHash {
  /** Adds `chunk` (copied: the caller keeps it). */
  update(chunk: Uint8Array): void;
  /** Resolves once the thread has caught up to within its bound (backpressure). */
  caughtUp(): Promise<void>;
  /** The hex digest of everything added. */
  digest(): Promise<string>;
  /** Forgets the file (an upload that failed). */
  drop(): void;
}

interface Waiting {
  pending: number;
  /** Set when the thread is gone (stopped or broken): the file can only fail now. */
  error?: Error;
  wake?: () => void;
  done?: (digest: string) => void;
  fail?: (err: Error) => void;
}

export class HashThread {
  private worker?: Worker;
  private nextId = 0;
  private readonly files = new Map<number, Waiting>();
  private failure?: Error;

  /** Whether the thread failed, so that every file is hashed inline from now on. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A hash for a file of `size` bytes: on the thread when large, inline otherwise. */
  forFile(size: number): FileHash {
    if (size < THREAD_HASH_MIN_BYTES || this.failure) return inlineHash();
    const worker = this.start();
    const id = this.nextId++;
    const state: Waiting = { pending: 0 };
    this.files.set(id, state);
    return {
      update: (chunk) => {
        if (chunk.length === 0 || state.error) return;
        // A copy of just this view, moved to the thread (cloning a view would copy its whole buffer).
        const copy = new Uint8Array(chunk);
        state.pending += copy.byteLength;
        worker.postMessage({ id, chunk: copy }, [copy.buffer]);
      },
      caughtUp: () =>
        state.pending <= MAX_PENDING_BYTES || state.error
          ? Promise.resolve()
          : new Promise<void>((resolve) => (state.wake = resolve)),
      digest: () =>
        new Promise<string>((resolve, reject) => {
          if (state.error) return reject(state.error);
          state.done = resolve;
          state.fail = reject;
          worker.postMessage({ id, end: true });
        }),
      drop: () => {
        if (!this.files.delete(id)) return;
        worker.postMessage({ id, drop: true });
        state.wake?.();
      },
    };
  }

  /**
   * Ends the thread (the process is stopping). Its exit is then expected,
   * not a failure: a file started later gets a new thread. Files still being
   * hashed on it fail.
   */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    this.failAll(new Error('the sha256 thread was stopped'));
    await worker.terminate();
  }

  /**
   * Starts the thread now rather than at the first large file: a thread
   * costs ~18 MiB of RSS, which belongs to the process's fixed footprint,
   * not to the first upload's.
   */
  start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    // Idle, it must not keep the process alive.
    worker.unref();
    worker.on('message', (m: { id: number; hashed?: number; digest?: string }) => {
      const state = this.files.get(m.id);
      if (!state) return;
      if (m.hashed !== undefined) {
        state.pending -= m.hashed;
        if (state.pending <= MAX_PENDING_BYTES && state.wake) {
          const wake = state.wake;
          state.wake = undefined;
          wake();
        }
      }
      if (m.digest !== undefined) {
        this.files.delete(m.id);
        state.done?.(m.digest);
      }
    });
    const broken = (err: Error) => {
      // Every file in progress fails; later files are hashed inline.
      this.failure = new Error(`the sha256 thread stopped: ${err.message}`);
      this.worker = undefined;
      this.failAll(this.failure);
    };
    worker.on('error', broken);
    worker.on('exit', (code) => {
      if (this.worker === worker) broken(new Error(`exit code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  /** Every file on the thread fails with `error`: now if it awaits its digest, else at its digest. */
  private failAll(error: Error): void {
    for (const state of this.files.values()) {
      state.error = error;
      state.fail?.(error);
      state.wake?.();
    }
    this.files.clear();
  }
}

function inlineHash(): FileHash {
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    caughtUp: () => Promise.resolve(),
    digest: () => Promise.resolve(hash.digest('hex')),
    drop: () => {},
  };
}

/** Hashes large files beside the event loop; one thread for the process. */
export const hashThread = new HashThread();
