import { beforeEach, describe, expect, it } from 'vitest';
import type { Usage } from '../records.js';
import type { Store } from '../store.js';
import { makeWorker, units } from './fixtures.js';
import type { ContractSubject } from './subject.js';

/** WORKERS: registration, heartbeats, states and resource reservations. */
export function describeWorkerContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('workers', () => {
    const now = new Date('2024-06-01T12:00:00.000Z');
    const later = new Date('2024-06-01T12:00:30.000Z');

    it('registers a worker as ALIVE with heartbeat and registration time set to now', async () => {
      const input = makeWorker('w1');
      const w = await store.registerWorker(input, now);
      expect(w).toEqual({ ...input, state: 'ALIVE', lastHeartbeat: now, registeredAt: now });
      expect(await store.getWorker('w1')).toEqual(w);
      expect(await store.getWorker('nope')).toBeNull();
    });

    it('replaces a registration, reviving a worker that was lost', async () => {
      await store.registerWorker(makeWorker('w1'), now);
      await store.setWorkerState('w1', ['ALIVE'], 'LOST');
      const bigger = makeWorker('w1', units(8000, 16384, 102400, 1), { address: '127.0.0.1:7001', version: '2.0.0' });
      const w = await store.registerWorker(bigger, later);
      expect(w).toEqual({ ...bigger, state: 'ALIVE', lastHeartbeat: later, registeredAt: later });
      expect(await store.listWorkers()).toHaveLength(1);
    });

    it('records heartbeats only from workers in the allowed states', async () => {
      await store.registerWorker(makeWorker('w1'), now);
      const usage: Usage = { cpuPercent: 42.5, memoryUsedGb: 1.25, loadAverage1m: 0.75, runningContainers: 3 };
      const beat = await store.heartbeatWorker('w1', usage, later, ['ALIVE', 'DRAINING']);
      expect(beat).toMatchObject({ usage, lastHeartbeat: later, registeredAt: now, state: 'ALIVE' });

      await store.setWorkerState('w1', ['ALIVE'], 'LOST');
      const afterLoss = new Date(later.getTime() + 1000);
      expect(await store.heartbeatWorker('w1', usage, afterLoss, ['ALIVE', 'DRAINING'])).toBeNull();
      expect((await store.getWorker('w1'))?.lastHeartbeat).toEqual(later);
      expect(await store.heartbeatWorker('nope', usage, later, ['ALIVE'])).toBeNull();
    });

    it('moves state only from the expected states', async () => {
      await store.registerWorker(makeWorker('w1'), now);
      expect(await store.setWorkerState('w1', ['DRAINING'], 'LOST')).toBeNull();
      expect((await store.setWorkerState('w1', ['ALIVE'], 'DRAINING'))?.state).toBe('DRAINING');
      expect((await store.setWorkerState('w1', ['ALIVE', 'DRAINING'], 'LOST'))?.state).toBe('LOST');
      expect((await store.getWorker('w1'))?.state).toBe('LOST');
      expect(await store.setWorkerState('nope', ['ALIVE'], 'LOST')).toBeNull();
    });

    it('lists workers by state and finds the silent ones', async () => {
      await store.registerWorker(makeWorker('w1'), now);
      await store.registerWorker(makeWorker('w2'), now);
      await store.registerWorker(makeWorker('w3'), now);
      await store.heartbeatWorker('w2', makeWorker('w2').usage, later, ['ALIVE']);
      await store.setWorkerState('w3', ['ALIVE'], 'DRAINING');

      expect((await store.listWorkers()).map((w) => w.workerId)).toEqual(['w1', 'w2', 'w3']);
      expect((await store.listWorkers(['ALIVE'])).map((w) => w.workerId)).toEqual(['w1', 'w2']);
      expect((await store.listWorkers(['DRAINING', 'LOST'])).map((w) => w.workerId)).toEqual(['w3']);
      expect(await store.listWorkers([])).toEqual([]);

      const cutoff = new Date(now.getTime() + 1000);
      expect((await store.listWorkersSilentSince(cutoff, ['ALIVE', 'DRAINING'])).map((w) => w.workerId)).toEqual([
        'w1',
        'w3',
      ]);
      expect((await store.listWorkersSilentSince(cutoff, ['ALIVE'])).map((w) => w.workerId)).toEqual(['w1']);
      // Strictly older: a heartbeat exactly at the cutoff is not silent.
      expect(await store.listWorkersSilentSince(now, ['ALIVE', 'DRAINING'])).toEqual([]);
    });
  });

  describe('reservations', () => {
    const cap = units(4000, 8192, 10240, 2);
    const now = new Date('2024-06-01T12:00:00.000Z');

    beforeEach(async () => {
      await store.registerWorker(makeWorker('w1', cap), now);
    });

    it('takes resources that fit, down to exactly zero', async () => {
      expect(await store.reserveOnWorker('w1', units(1500, 4096, 240, 1))).toBe(true);
      expect((await store.getWorker('w1'))?.free).toEqual(units(2500, 4096, 10000, 1));
      expect(await store.reserveOnWorker('w1', units(2500, 4096, 10000, 1))).toBe(true);
      expect((await store.getWorker('w1'))?.free).toEqual(units(0, 0, 0, 0));
      expect(await store.reserveOnWorker('w1', units(0, 0, 0, 0))).toBe(true);
      expect((await store.getWorker('w1'))?.capacity).toEqual(cap);
    });

    it('refuses, changing nothing, when any single dimension would go negative', async () => {
      for (const tooMuch of [units(4001, 1, 1, 0), units(1, 8193, 1, 0), units(1, 1, 10241, 0), units(1, 1, 1, 3)]) {
        expect(await store.reserveOnWorker('w1', tooMuch)).toBe(false);
        expect((await store.getWorker('w1'))?.free).toEqual(cap);
      }
    });

    it('refuses on a worker that is not ALIVE, or unknown', async () => {
      await store.setWorkerState('w1', ['ALIVE'], 'DRAINING');
      expect(await store.reserveOnWorker('w1', units(1, 1, 1, 0))).toBe(false);
      await store.setWorkerState('w1', ['DRAINING'], 'LOST');
      expect(await store.reserveOnWorker('w1', units(1, 1, 1, 0))).toBe(false);
      expect((await store.getWorker('w1'))?.free).toEqual(cap);
      expect(await store.reserveOnWorker('nope', units(1, 1, 1, 0))).toBe(false);
    });

    it('rejects negative or fractional units, naming the dimension', async () => {
      await expect(store.reserveOnWorker('w1', units(-1000, 0, 0, 0))).rejects.toThrow(/cpuMillis/);
      await expect(store.reserveOnWorker('w1', units(0, 0.5, 0, 0))).rejects.toThrow(/memoryMb/);
      await expect(store.releaseOnWorker('w1', units(0, 0, 0, -1))).rejects.toThrow(/gpu/);
      expect((await store.getWorker('w1'))?.free).toEqual(cap);
    });

    it('resets free units only while they are exactly what the caller saw', async () => {
      expect(await store.reserveOnWorker('w1', units(1000, 1024, 0, 1))).toBe(true);
      const seen = units(3000, 7168, 10240, 1);
      // Someone reserved since: the repair must not undo that.
      expect(await store.reserveOnWorker('w1', units(500, 0, 0, 0))).toBe(true);
      expect(await store.resetWorkerFree('w1', seen, cap)).toBe(false);
      expect((await store.getWorker('w1'))?.free).toEqual(units(2500, 7168, 10240, 1));
      expect(await store.resetWorkerFree('w1', units(2500, 7168, 10240, 1), units(3500, 8192, 10240, 2))).toBe(true);
      expect((await store.getWorker('w1'))?.free).toEqual(units(3500, 8192, 10240, 2));
      expect(await store.resetWorkerFree('nope', cap, cap)).toBe(false);
      await expect(store.resetWorkerFree('w1', cap, units(0, -1, 0, 0))).rejects.toThrow(/memoryMb/);
      expect((await store.getWorker('w1'))?.capacity).toEqual(cap);
    });

    it('never over-commits under concurrent reservations', async () => {
      await store.registerWorker(makeWorker('w5', units(5000, 100_000, 100_000, 0)), now);
      const other = await subject.second();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).reserveOnWorker('w5', units(1000, 10, 10, 0))),
      );
      expect(results.filter(Boolean)).toHaveLength(5);
      expect((await store.getWorker('w5'))?.free).toEqual(units(0, 100_000 - 50, 100_000 - 50, 0));
    });

    it('never over-commits when a different dimension is the bottleneck', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, () => store.reserveOnWorker('w1', units(100, 1024, 0, 0))),
      );
      expect(results.filter(Boolean)).toHaveLength(8);
      expect((await store.getWorker('w1'))?.free).toEqual(units(3200, 0, 10240, 2));
    });

    it('gives resources back, never beyond capacity', async () => {
      await store.reserveOnWorker('w1', units(3000, 8000, 0, 2));
      await store.releaseOnWorker('w1', units(1000, 8000, 0, 1));
      expect((await store.getWorker('w1'))?.free).toEqual(units(2000, 8192, 10240, 1));
      await store.releaseOnWorker('w1', units(5000, 5000, 5000, 5));
      expect((await store.getWorker('w1'))?.free).toEqual(cap);
      await store.releaseOnWorker('nope', units(1, 1, 1, 1));
      expect(await store.getWorker('nope')).toBeNull();
    });

    it('adds up concurrent releases exactly', async () => {
      await store.reserveOnWorker('w1', units(4000, 8192, 10240, 2));
      const other = await subject.second();
      await Promise.all(
        Array.from({ length: 16 }, (_, i) => (i % 2 ? other : store).releaseOnWorker('w1', units(125, 256, 0, 0))),
      );
      expect((await store.getWorker('w1'))?.free).toEqual(units(2000, 4096, 0, 0));
    });
  });
}
