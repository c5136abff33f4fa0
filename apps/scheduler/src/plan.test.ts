import { RESOURCE_KEYS, toUnits, type ResourceUnits } from '@cloudai/domain';
import { describe, expect, it } from 'vitest';
import { plan, type Plan, type PlanTask, type PlanWorker } from './plan.js';
import { binpack, policyByName, spread, type Policy } from './policies.js';

const units = (cpu: number, memoryGb: number, storageGb = 0, gpu = 0): ResourceUnits =>
  toUnits({ cpu, memoryGb, storageGb, gpu });

function worker(workerId: string, capacity: ResourceUnits, free: ResourceUnits = capacity): PlanWorker {
  return { workerId, capacity, free };
}

let clock = 0;
function task(taskId: string, need: ResourceUnits, pinnedWorkerId?: string): PlanTask {
  return { taskId, units: need, pinnedWorkerId, submittedAt: ++clock };
}

const placedOn = (p: Plan) => Object.fromEntries(p.placements.map((x) => [x.taskId, x.workerId]));
const reasons = (p: Plan) => Object.fromEntries(p.unplaced.map((x) => [x.taskId, x.reason]));

describe('binpack', () => {
  it('fills the worker that is left with the least free capacity', () => {
    const workers = [worker('big', units(8, 32)), worker('small', units(4, 16))];
    const tasks = ['a', 'b', 'c', 'd'].map((id) => task(id, units(1, 2)));
    const p = plan(tasks, workers, binpack);
    expect(placedOn(p)).toEqual({ a: 'small', b: 'small', c: 'small', d: 'small' });
    expect(p.unplaced).toEqual([]);
  });

  it('moves on to the next tightest worker once one is full', () => {
    const workers = [worker('big', units(8, 32)), worker('small', units(2, 8))];
    const tasks = ['a', 'b', 'c'].map((id) => task(id, units(1, 2)));
    expect(placedOn(plan(tasks, workers, binpack))).toEqual({ a: 'small', b: 'small', c: 'big' });
  });

  it('judges by free capacity, not total capacity', () => {
    const workers = [worker('roomy', units(4, 16)), worker('busy', units(16, 64), units(2, 8))];
    expect(placedOn(plan([task('a', units(1, 1))], workers, binpack))).toEqual({ a: 'busy' });
  });

  it('is the default policy and is found by name', () => {
    const workers = [worker('big', units(8, 32)), worker('small', units(4, 16))];
    const tasks = [task('a', units(1, 2))];
    expect(plan(tasks, workers)).toEqual(plan(tasks, workers, binpack));
    expect(policyByName('binpack')).toBe(binpack);
    expect(policyByName('spread')).toBe(spread);
  });
});

describe('spread', () => {
  it('alternates between equal workers', () => {
    const workers = [worker('a', units(4, 16)), worker('b', units(4, 16))];
    const tasks = ['t1', 't2', 't3', 't4'].map((id) => task(id, units(1, 2)));
    expect(placedOn(plan(tasks, workers, spread))).toEqual({ t1: 'a', t2: 'b', t3: 'a', t4: 'b' });
  });

  it('picks the worker with the most free capacity', () => {
    const workers = [worker('small', units(4, 16)), worker('big', units(8, 32)), worker('mid', units(6, 24))];
    const tasks = [task('t1', units(2, 8)), task('t2', units(2, 8)), task('t3', units(2, 8))];
    // big 8→6 ties mid at 6 cores/24 GB; mid is listed later, so big wins the tie, then mid.
    expect(placedOn(plan(tasks, workers, spread))).toEqual({ t1: 'big', t2: 'big', t3: 'mid' });
  });
});

describe('order', () => {
  it('places oldest first, and a task that does not fit does not block smaller ones behind it', () => {
    const workers = [worker('w-1', units(4, 16))];
    const tasks = [task('first', units(3, 4)), task('big', units(3, 4)), task('small', units(1, 4))];
    const p = plan(tasks, workers);
    expect(placedOn(p)).toEqual({ first: 'w-1', small: 'w-1' });
    expect(reasons(p)).toEqual({ big: 'no worker has 3 cores free; largest free: 1 core' });
  });

  it('lets an older big task take capacity before younger small ones', () => {
    const workers = [worker('w-1', units(4, 16))];
    const tasks = [task('big', units(4, 8)), task('small', units(1, 1))];
    const p = plan(tasks, workers);
    expect(placedOn(p)).toEqual({ big: 'w-1' });
    expect(p.unplaced.map((u) => u.taskId)).toEqual(['small']);
  });

  it('is deterministic and leaves its input untouched', () => {
    const workers = [worker('a', units(4, 16)), worker('b', units(4, 16), units(3, 10))];
    const tasks = [task('t1', units(1, 2)), task('t2', units(2, 2)), task('t3', units(4, 2))];
    const before = structuredClone({ workers, tasks });
    const first = plan(tasks, workers, spread);
    expect(plan(tasks, workers, spread)).toEqual(first);
    expect({ workers, tasks }).toEqual(before);
  });
});

describe('pinned tasks', () => {
  it('go only to their worker, even when the policy prefers another', () => {
    const workers = [worker('small', units(2, 8)), worker('big', units(16, 64))];
    const p = plan([task('p', units(1, 1), 'big'), task('q', units(1, 1))], workers, binpack);
    expect(placedOn(p)).toEqual({ p: 'big', q: 'small' });
  });

  it('stay queued when their worker has no room, and name the short dimension', () => {
    const workers = [worker('w-1', units(8, 16), units(8, 2)), worker('w-2', units(64, 256))];
    const p = plan([task('p', units(1, 8), 'w-1')], workers);
    expect(reasons(p)).toEqual({ p: 'worker w-1 has only 2 GB free memory (needs 8 GB)' });
  });

  it('say when their worker can never hold them', () => {
    const workers = [worker('w-1', units(8, 16))];
    const p = plan([task('p', units(1, 64), 'w-1'), task('g', units(1, 1, 0, 1), 'w-1')], workers);
    expect(reasons(p)).toEqual({
      p: 'worker w-1 has only 16 GB memory in total (needs 64 GB); it can never run there',
      g: 'worker w-1 has only 0 GPUs in total (needs 1 GPU); it can never run there',
    });
  });

  it('say when their worker is not in the snapshot', () => {
    const p = plan([task('p', units(1, 1), 'w-9')], [worker('w-1', units(8, 16))]);
    expect(reasons(p)).toEqual({ p: 'worker w-9 is not registered or not accepting tasks' });
    const none = plan([task('p', units(1, 1), 'w-9')], []);
    expect(reasons(none)).toEqual({ p: 'worker w-9 is not registered or not accepting tasks' });
  });

  it('use up capacity that later unpinned tasks then do not get', () => {
    const workers = [worker('w-1', units(4, 16))];
    const p = plan([task('p', units(3, 4), 'w-1'), task('q', units(2, 4))], workers);
    expect(placedOn(p)).toEqual({ p: 'w-1' });
    expect(reasons(p)).toEqual({ q: 'no worker has 2 cores free; largest free: 1 core' });
  });
});

describe('reasons', () => {
  it('no workers at all', () => {
    expect(reasons(plan([task('t', units(1, 1))], []))).toEqual({ t: 'no workers are registered' });
  });

  it('not enough free memory anywhere, with the largest free amount', () => {
    const workers = [worker('w-1', units(8, 16), units(8, 3.5)), worker('w-2', units(8, 16), units(8, 1))];
    expect(reasons(plan([task('t', units(1, 8))], workers))).toEqual({
      t: 'no worker has 8 GB free memory; largest free: 3.5 GB',
    });
  });

  it('not enough free cpu, storage or gpus anywhere', () => {
    const workers = [worker('w-1', units(8, 16, 100, 2), units(2, 16, 10, 1))];
    const p = plan([task('c', units(4, 1)), task('s', units(1, 1, 20)), task('g', units(1, 1, 0, 2))], workers);
    expect(reasons(p)).toEqual({
      c: 'no worker has 4 cores free; largest free: 2 cores',
      s: 'no worker has 20 GB free storage; largest free: 10 GB',
      g: 'no worker has 2 GPUs free; largest free: 1 GPU',
    });
  });

  it('bigger than any worker in total: it can never be placed', () => {
    const workers = [worker('w-1', units(8, 16)), worker('w-2', units(4, 8))];
    const p = plan([task('m', units(1, 64)), task('c', units(9, 1)), task('g', units(1, 1, 0, 1))], workers);
    expect(reasons(p)).toEqual({
      m: 'no worker has 64 GB memory in total (largest: 16 GB); it can never be placed',
      c: 'no worker has 9 cores in total (largest: 8 cores); it can never be placed',
      g: 'no worker has 1 GPU in total (largest: 0 GPUs); it can never be placed',
    });
  });

  it('each dimension free somewhere, but never all on one worker', () => {
    const workers = [worker('cpu-rich', units(8, 16), units(8, 2)), worker('mem-rich', units(8, 16), units(1, 16))];
    expect(reasons(plan([task('t', units(4, 8))], workers))).toEqual({
      t: 'no worker has 4 cores and 8 GB memory free at the same time',
    });
  });

  it('reflect capacity used by earlier placements in the same plan', () => {
    const workers = [worker('w-1', units(8, 8))];
    const p = plan([task('a', units(1, 6)), task('b', units(1, 4)), task('c', units(1, 4))], workers);
    expect(placedOn(p)).toEqual({ a: 'w-1' });
    expect(reasons(p)).toEqual({
      b: 'no worker has 4 GB free memory; largest free: 2 GB',
      c: 'no worker has 4 GB free memory; largest free: 2 GB',
    });
  });

  it('are not reused once the largest free amount has changed', () => {
    const workers = [worker('w-1', units(8, 16), units(4, 16))];
    const p = plan([task('x', units(5, 1)), task('y', units(2, 1)), task('z', units(5, 1)), task('huge', units(5, 64))], workers);
    expect(reasons(p)).toEqual({
      x: 'no worker has 5 cores free; largest free: 4 cores',
      z: 'no worker has 5 cores free; largest free: 2 cores',
      huge: 'no worker has 64 GB memory in total (largest: 16 GB); it can never be placed',
    });
  });
});

describe('edges', () => {
  it('places a task that exactly fills a worker, and nothing more there', () => {
    const workers = [worker('w-1', units(4, 16, 50, 1))];
    const p = plan([task('exact', units(4, 16, 50, 1)), task('more', units(0.25, 0.01))], workers);
    expect(placedOn(p)).toEqual({ exact: 'w-1' });
    expect(reasons(p)).toEqual({ more: 'no worker has 0.25 cores free; largest free: 0 cores' });
  });

  it('sends GPU tasks to GPU workers and, with binpack, keeps CPU-only tasks off them', () => {
    const workers = [worker('gpu', units(16, 64, 100, 4)), worker('cpu', units(16, 64, 100))];
    const p = plan([task('g', units(2, 8, 0, 1)), task('c', units(2, 8))], workers, binpack);
    expect(placedOn(p)).toEqual({ g: 'gpu', c: 'cpu' });
    const q = plan([task('g1', units(1, 1, 0, 2)), task('g2', units(1, 1, 0, 2)), task('g3', units(1, 1, 0, 1))], workers);
    expect(placedOn(q)).toEqual({ g1: 'gpu', g2: 'gpu' });
    expect(reasons(q)).toEqual({ g3: 'no worker has 1 GPU free; largest free: 0 GPUs' });
  });

  it('never places on workers with zero capacity or nothing free', () => {
    const workers = [worker('empty', units(0, 0)), worker('full', units(4, 16), units(0, 0))];
    const p = plan([task('t', units(4, 1)), task('u', units(8, 1))], workers);
    expect(p.placements).toEqual([]);
    expect(reasons(p)).toEqual({
      t: 'no worker has 4 cores free; largest free: 0 cores',
      u: 'no worker has 8 cores in total (largest: 4 cores); it can never be placed',
    });
  });

  it('places zero-sized requests on any worker that is not over-committed', () => {
    const workers = [worker('over', units(4, 4), { ...units(0, 0), memoryMb: -1 }), worker('ok', units(4, 4), units(0, 0))];
    const p = plan([task('z', units(0, 0))], workers);
    expect(placedOn(p)).toEqual({ z: 'ok' });
  });
});

// ---- randomized: many clusters, both policies -------------------------------

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCluster(seed: number) {
  const r = rng(seed);
  const int = (max: number) => Math.floor(r() * (max + 1));
  // Few distinct sizes so that ties, exact fits and repeated failures are common.
  const workerCount = int(12);
  const workers: PlanWorker[] = [];
  for (let i = 0; i < workerCount; i++) {
    const capacity = units(int(8), int(4) * 4, int(3) * 10, r() < 0.3 ? int(4) : 0);
    const free = {
      cpuMillis: r() < 0.5 ? capacity.cpuMillis : int(capacity.cpuMillis / 1000) * 1000,
      memoryMb: r() < 0.5 ? capacity.memoryMb : int(capacity.memoryMb / 1024) * 1024,
      storageMb: capacity.storageMb,
      gpu: int(capacity.gpu),
    };
    workers.push(worker(`w-${i}`, capacity, free));
  }
  const tasks: PlanTask[] = [];
  const taskCount = int(60);
  for (let i = 0; i < taskCount; i++) {
    const pinned = r() < 0.1 ? `w-${int(workerCount + 1)}` : undefined;
    tasks.push(task(`t-${i}`, units(int(4) * 0.5, int(4) * 2, int(2) * 5, r() < 0.2 ? int(2) : 0), pinned));
  }
  return { workers, tasks };
}

const fitsIn = (need: ResourceUnits, free: ResourceUnits) => RESOURCE_KEYS.every((k) => need[k] <= free[k]);

/** The policy's choice computed the slow, obvious way: score every worker that fits. */
function expectedChoice(policy: Policy, need: ResourceUnits, workers: PlanWorker[], free: ResourceUnits[]) {
  const maxCap = RESOURCE_KEYS.map((k) => Math.max(0, ...workers.map((w) => w.capacity[k])));
  const scale = maxCap.map((m) => (m > 0 ? 1 / m : 0));
  let best: number | undefined;
  let bestScore = Infinity;
  free.forEach((f, w) => {
    if (!fitsIn(need, f)) return;
    const s =
      f.cpuMillis * scale[0]! + f.memoryMb * scale[1]! + f.storageMb * scale[2]! + f.gpu * scale[3]!;
    const score = policy === spread ? -s : s;
    if (score < bestScore) {
      bestScore = score;
      best = w;
    }
  });
  return best;
}

describe('randomized clusters', () => {
  it.each([binpack, spread])('$name: never over-commits, decides every task once, and chooses as the policy says', (policy) => {
    for (let seed = 1; seed <= 1500; seed++) {
      const { workers, tasks } = randomCluster(seed);
      const p = plan(tasks, workers, policy);
      const where = new Map(p.placements.map((x) => [x.taskId, x.workerId]));
      const why = new Map(p.unplaced.map((x) => [x.taskId, x.reason]));

      // Each task exactly once, and nothing that was not asked for.
      expect(p.placements.length + p.unplaced.length).toBe(tasks.length);
      expect(new Set([...where.keys(), ...why.keys()]).size).toBe(tasks.length);

      // Replay in order: every placement fits what was free at that moment and is
      // the policy's choice; every unplaced task fitted nowhere it was allowed.
      const free = workers.map((w) => ({ ...w.free }));
      const indexOf = new Map(workers.map((w, i) => [w.workerId, i]));
      for (const t of tasks) {
        const placed = where.get(t.taskId);
        if (placed !== undefined) {
          const w = indexOf.get(placed)!;
          expect(fitsIn(t.units, free[w]!), `seed ${seed}: ${t.taskId} over-commits ${placed}`).toBe(true);
          if (t.pinnedWorkerId) expect(placed).toBe(t.pinnedWorkerId);
          else expect(w, `seed ${seed}: ${t.taskId}`).toBe(expectedChoice(policy, t.units, workers, free));
          for (const k of RESOURCE_KEYS) free[w]![k] -= t.units[k];
        } else {
          const reason = why.get(t.taskId);
          expect(reason, `seed ${seed}: ${t.taskId} neither placed nor unplaced`).toBeTruthy();
          if (t.pinnedWorkerId) {
            const w = indexOf.get(t.pinnedWorkerId);
            if (w !== undefined) expect(fitsIn(t.units, free[w]!)).toBe(false);
            expect(reason).toContain(`worker ${t.pinnedWorkerId} `);
          } else {
            expect(free.some((f) => fitsIn(t.units, f)), `seed ${seed}: ${t.taskId} fitted somewhere`).toBe(false);
          }
        }
      }
      for (let w = 0; w < workers.length; w++) {
        for (const k of RESOURCE_KEYS) {
          expect(free[w]![k]).toBeGreaterThanOrEqual(Math.min(0, workers[w]!.free[k]));
        }
      }
    }
  });

  it('keeps its choices right over long plans with many equal workers', () => {
    const workers = Array.from({ length: 40 }, (_, i) => worker(`w-${i}`, units(4 + (i % 3), 16), units(4 + (i % 3), 16)));
    const r = rng(7);
    const tasks = Array.from({ length: 400 }, (_, i) => task(`t-${i}`, units(0.5 * (1 + Math.floor(r() * 4)), 1)));
    for (const policy of [binpack, spread]) {
      const p = plan(tasks, workers, policy);
      const free = workers.map((w) => ({ ...w.free }));
      const where = new Map(p.placements.map((x) => [x.taskId, Number(x.workerId.slice(2))]));
      for (const t of tasks) {
        const w = where.get(t.taskId);
        expect(w).toBe(expectedChoice(policy, t.units, workers, free));
        if (w !== undefined) for (const k of RESOURCE_KEYS) free[w]![k] -= t.units[k];
      }
    }
  });
});
