/**
 * `read` at most once per `ttlMs`: callers while a read is in flight share
 * it, and callers within `ttlMs` after it answered share its answer. Scrapes
 * that read the store go through one, so a storm of them costs the store
 * one query per `ttlMs` at most. A failed read is not kept.
 */
export function cachedRead<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  // answeredAt is undefined while the read is in flight
  let current: { value: Promise<T>; answeredAt?: number } | undefined;
  return () => {
    if (current && (current.answeredAt === undefined || performance.now() - current.answeredAt < ttlMs)) {
      return current.value;
    }
    const entry: { value: Promise<T>; answeredAt?: number } = { value: read() };
    current = entry;
    entry.value.then(
      () => {
        entry.answeredAt = performance.now();
      },
      () => {
        if (current === entry) current = undefined;
      },
    );
    return entry.value;
  };
}
