/**
 * Runs async sections one at a time per key, in arrival order. Sections on
 * different keys run concurrently. A failing section does not block the next.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(() => section());
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // Only the last section queued on a key removes it, so the map holds
      // just the keys with work in flight.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
