import { describe, expect, it } from 'vitest';
import { cachedRead } from './cached-read.js';

/** A read that answers only when told to, counting how often it was started. */
function controlledRead() {
  const pending: PromiseWithResolvers<number>[] = [];
  return {
    read: () => {
      const next = Promise.withResolvers<number>();
      pending.push(next);
      return next.promise;
    },
    get started() {
      return pending.length;
    },
    answer: (value: number) => pending.at(-1)!.resolve(value),
    fail: (err: Error) => pending.at(-1)!.reject(err),
  };
}

describe('cachedRead', () => {
  it('shares a read in flight between callers', async () => {
    const r = controlledRead();
    const cached = cachedRead(r.read, 0);
    const a = cached();
    const b = cached();
    expect(r.started).toBe(1);
    r.answer(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    // ttl 0: the next caller reads again.
    const c = cached();
    expect(r.started).toBe(2);
    r.answer(8);
    expect(await c).toBe(8);
  });

  it('keeps an answer for ttlMs', async () => {
    const r = controlledRead();
    const cached = cachedRead(r.read, 3_600_000);
    const first = cached();
    r.answer(1);
    expect(await first).toBe(1);
    const [second, third] = [cached(), cached()];
    expect(r.started).toBe(1);
    expect(await Promise.all([second, third])).toEqual([1, 1]);
  });

  it('does not keep a failure: the next caller reads again', async () => {
    const r = controlledRead();
    const cached = cachedRead(r.read, 3_600_000);
    const first = cached();
    r.fail(new Error('store away'));
    await expect(first).rejects.toThrow('store away');
    const second = cached();
    expect(r.started).toBe(2);
    r.answer(2);
    expect(await second).toBe(2);
  });
});
