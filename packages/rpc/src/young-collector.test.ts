import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { canCollectYoung, fullCollector, youngCollector } from './young-collector.js';

/** Young collections that run while `fn` does. */
function minorCollectionsDuring(fn: () => void): Promise<number> {
  return collectionsDuring(constants.NODE_PERFORMANCE_GC_MINOR, fn);
}

/** Collections of `kind` that run while `fn` does. */
async function collectionsDuring(kind: number, fn: () => void): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } }).detail;
      if (detail?.kind === kind) count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  fn();
  // Entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return count;
}

describe('youngCollector', () => {
  it('runs a young collection after every `everyBytes` received', async () => {
    expect(canCollectYoung()).toBe(true);
    const collect = youngCollector(1024 * 1024);
    // 8 MiB in 64 KiB chunks, with next to no JS allocation: V8 alone would not collect.
    const ran = await minorCollectionsDuring(() => {
      for (let i = 0; i < 8 * 16; i++) collect(64 * 1024);
    });
    expect(ran).toBeGreaterThanOrEqual(8);
  });
});

describe('fullCollector', () => {
  it('runs a full collection after every `everyBytes` handled, and none before', async () => {
    const collect = fullCollector(4 * 1024 * 1024);
    const none = await collectionsDuring(constants.NODE_PERFORMANCE_GC_MAJOR, () => {
      for (let i = 0; i < 63; i++) collect(64 * 1024);
    });
    // (V8 may start one of its own: counted, not required to be none.)
    expect(none).toBeLessThanOrEqual(1);
    // 16 MiB more: the one 64 KiB short of the first 4 MiB, then three more.
    const ran = await collectionsDuring(constants.NODE_PERFORMANCE_GC_MAJOR, () => {
      for (let i = 0; i < 16 * 16; i++) collect(64 * 1024);
    });
    expect(ran).toBeGreaterThanOrEqual(4);
  });
});
