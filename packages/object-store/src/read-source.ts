/** Bytes to upload: chunks from a Node Readable (not in string mode), an async generator or an array. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * The chunks of `source`, ending early with the signal's reason when it
 * aborts, even while the source waits for data it may never get (a stalled
 * upload stream). Stopping early returns the source's iterator, which
 * destroys a Readable.
 */
export async function* chunksOf(source: ByteSource, signal: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  const iterator: AsyncIterator<unknown> | Iterator<unknown> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  let finished = false;
  try {
    for (;;) {
      const next = await untilAborted(Promise.resolve(iterator.next()), signal);
      if (next.done) {
        finished = true;
        return;
      }
      const chunk: unknown = next.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`an upload source must yield bytes (Uint8Array or Buffer), got ${typeof chunk}`);
      }
      yield chunk;
    }
  } finally {
    // Not awaited: a source stuck in a read would hold the caller's error back.
    if (!finished) Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
