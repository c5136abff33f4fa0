import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { canCollectYoung, youngCollector } from './young-collector.js';

/** Young collections that run while `fn` does. */
async function minorCollectionsDuring(fn: () => void): Promise<number> {
  let minor = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  fn();
  // Entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return minor;
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
