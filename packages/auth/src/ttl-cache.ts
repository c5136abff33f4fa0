export interface TtlCacheOptions {
  /** at most this many entries; setting one more evicts the least recently used */
  maxEntries: number;
  /** how long an entry lives after it is set, unless set() says otherwise */
  ttlMs: number;
  /** milliseconds, default Date.now; tests pass their own clock */
  now?: () => number;
}

/**
 * A bounded map whose entries expire: what the master keeps verified
 * credentials in, so most calls need no store round trip while a revoked
 * one stops working within `ttlMs`.
 */
export class TtlCache<K, V> {
  // A Map iterates in insertion order; re-inserting on every hit keeps the
  // least recently used entry first.
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor({ maxEntries, ttlMs, now = Date.now }: TtlCacheOptions) {
    if (!(Number.isInteger(maxEntries) && maxEntries > 0)) {
      throw new Error(`maxEntries must be a whole number > 0, got ${maxEntries}`);
    }
    if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new Error(`ttlMs must be > 0, got ${ttlMs}`);
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, if it is there and has not expired; a hit makes it the most recently used. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (this.#now() >= entry.expiresAt) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V, ttlMs = this.#ttlMs): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
