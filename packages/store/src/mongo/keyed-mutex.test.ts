import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './keyed-mutex.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('KeyedMutex', () => {
  it('runs sections on one key one at a time, in arrival order, and others concurrently', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    let inside = 0;
    let maxInside = 0;
    const section = (name: string) => async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      events.push(`${name}:start`);
      await tick();
      await tick();
      events.push(`${name}:end`);
      inside--;
      return name;
    };
    let otherKeyRanWhileAWasBusy = false;
    const results = await Promise.all([
      mutex.run('a', section('1')),
      mutex.run('a', section('2')),
      mutex.run('b', async () => {
        otherKeyRanWhileAWasBusy = events.includes('1:start') && !events.includes('2:end');
        return 'b';
      }),
      mutex.run('a', section('3')),
    ]);
    expect(results).toEqual(['1', '2', 'b', '3']);
    expect(maxInside).toBe(1);
    expect(events).toEqual(['1:start', '1:end', '2:start', '2:end', '3:start', '3:end']);
    expect(otherKeyRanWhileAWasBusy).toBe(true);
  });

  it('passes a failure to its caller only and keeps serving the key', async () => {
    const mutex = new KeyedMutex();
    const failed = mutex.run('k', async () => {
      throw new Error('boom');
    });
    const next = mutex.run('k', async () => 'fine');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('fine');
  });
});
