import { describe, expect, it } from 'vitest';
import { TtlCache } from './ttl-cache.js';

function cacheWithClock(maxEntries: number, ttlMs: number) {
  const clock = { now: 1_000_000 };
  const cache = new TtlCache<string, number>({ maxEntries, ttlMs, now: () => clock.now });
  return { cache, clock };
}

describe('TtlCache', () => {
  it('answers within the TTL and forgets at its end', () => {
    const { cache, clock } = cacheWithClock(10, 5_000);
    cache.set('a', 1);
    clock.now += 4_999;
    expect(cache.get('a')).toBe(1);
    clock.now += 1;
    expect(cache.get('a')).toBeUndefined();
    // An expired entry is dropped when looked at, not kept to fill the cache.
    expect(cache.size).toBe(0);
  });

  it('does not extend an entry\'s life when it is read', () => {
    const { cache, clock } = cacheWithClock(10, 5_000);
    cache.set('a', 1);
    for (let i = 0; i < 4; i++) {
      clock.now += 1_000;
      expect(cache.get('a')).toBe(1);
    }
    clock.now += 1_000;
    expect(cache.get('a')).toBeUndefined();
  });

  it('restarts the TTL when a key is set again, and takes a TTL per entry', () => {
    const { cache, clock } = cacheWithClock(10, 5_000);
    cache.set('a', 1);
    clock.now += 4_000;
    cache.set('a', 2);
    clock.now += 4_000;
    expect(cache.get('a')).toBe(2);
    cache.set('short', 3, 100);
    clock.now += 100;
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('a')).toBe(2);
  });

  it('never holds more than maxEntries, evicting the least recently used', () => {
    const { cache } = cacheWithClock(3, 60_000);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // now b is the least recently used
    cache.set('d', 4);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
    for (let i = 0; i < 1_000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(3);
    expect([cache.get('k997'), cache.get('k998'), cache.get('k999')]).toEqual([997, 998, 999]);
  });

  it('deletes and clears', () => {
    const { cache } = cacheWithClock(3, 60_000);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.get('a')).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('b')).toBeUndefined();
  });

  it('refuses a size or TTL that could not work', () => {
    expect(() => new TtlCache({ maxEntries: 0, ttlMs: 1 })).toThrow(/maxEntries/);
    expect(() => new TtlCache({ maxEntries: 1.5, ttlMs: 1 })).toThrow(/maxEntries/);
    expect(() => new TtlCache({ maxEntries: 1, ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => new TtlCache({ maxEntries: 1, ttlMs: Number.NaN })).toThrow(/ttlMs/);
  });
});
