// Benchmarks the scheduler's pure plan() on simulated heterogeneous clusters.
//
//   node bench/scheduler-plan.mjs [--runs N] [--tasks N] [--workers 100,1000,5000]
//
// Prints a table for people and, last, one `RESULT {json}` line for bench
// runners. Build first: pnpm turbo run build --filter @cloudai/scheduler...
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { plan } from '../apps/scheduler/dist/plan.js';
import { binpack, spread } from '../apps/scheduler/dist/policies.js';
import { result } from './lib.mjs';

export const TARGET_PLACEMENTS_PER_SECOND = 20_000;

// Deterministic, so runs compare like with like.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(random, weighted) {
  const total = weighted.reduce((s, [w]) => s + w, 0);
  let r = random() * total;
  for (const [w, v] of weighted) {
    r -= w;
    if (r < 0) return v;
  }
  return weighted[weighted.length - 1][1];
}

const units = (cpu, memoryGb, storageGb, gpu) => ({
  cpuMillis: Math.round(cpu * 1000),
  memoryMb: Math.round(memoryGb * 1024),
  storageMb: Math.round(storageGb * 1024),
  gpu,
});

const WORKER_SHAPES = [
  [30, units(4, 16, 100, 0)],
  [30, units(8, 32, 200, 0)],
  [20, units(16, 64, 500, 0)],
  [10, units(32, 128, 1000, 0)],
  [7, units(16, 64, 500, 4)],
  [3, units(64, 256, 2000, 8)],
];

const TASK_SHAPES = [
  [40, units(0.5, 1, 1, 0)],
  [25, units(1, 2, 5, 0)],
  [15, units(2, 4, 10, 0)],
  [8, units(4, 16, 20, 0)],
  [5, units(8, 32, 50, 0)],
  [4, units(4, 16, 20, 1)],
  [2, units(16, 64, 100, 2)],
  [1, units(48, 200, 100, 0)],
];

/** A cluster whose workers are already 0–50 % allocated, and `taskCount` queued tasks. */
export function simulate(workerCount, taskCount, seed = 1) {
  const random = rng(seed);
  const workers = [];
  for (let i = 0; i < workerCount; i++) {
    const capacity = pick(random, WORKER_SHAPES);
    const used = random() * 0.5;
    const free = {
      cpuMillis: Math.round(capacity.cpuMillis * (1 - used)),
      memoryMb: Math.round(capacity.memoryMb * (1 - used)),
      storageMb: Math.round(capacity.storageMb * (1 - used)),
      gpu: capacity.gpu - Math.floor(capacity.gpu * used),
    };
    workers.push({ workerId: `w-${i}`, capacity, free });
  }
  const tasks = [];
  for (let i = 0; i < taskCount; i++) {
    // 1 % are pinned by DispatchTask, a few of them to workers that are gone.
    const pinned = random() < 0.01 ? `w-${Math.floor(random() * workerCount * 1.05)}` : undefined;
    tasks.push({ taskId: `t-${i}`, units: pick(random, TASK_SHAPES), pinnedWorkerId: pinned, submittedAt: i });
  }
  return { workers, tasks };
}

/** Times plan() on one cluster size; returns per-policy figures. */
export function benchSize(workerCount, { taskCount = 10_000, runs = 5, warmup = 3 } = {}) {
  const { workers, tasks } = simulate(workerCount, taskCount);
  const rows = [];
  for (const policy of [binpack, spread]) {
    let result;
    for (let i = 0; i < warmup; i++) result = plan(tasks, workers, policy);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      result = plan(tasks, workers, policy);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const placed = result.placements.length;
    const placementsPerSecond = Math.round(placed / (median / 1000));
    rows.push({
      policy: policy.name,
      workers: workerCount,
      tasks: taskCount,
      placed,
      unplaced: result.unplaced.length,
      msPerPlan: Number(median.toFixed(2)),
      msBest: Number(times[0].toFixed(2)),
      placementsPerSecond,
      tasksPerSecond: Math.round(taskCount / (median / 1000)),
      targetRatio: Number((placementsPerSecond / TARGET_PLACEMENTS_PER_SECOND).toFixed(2)),
    });
  }
  return rows;
}

export function runBench({ sizes = [100, 1_000, 5_000], taskCount = 10_000, runs = 5 } = {}) {
  return sizes.flatMap((size) => benchSize(size, { taskCount, runs }));
}

function printTable(rows) {
  const header = ['policy', 'workers', 'tasks', 'placed', 'unplaced', 'ms/plan', 'placements/s', 'tasks/s', 'x target'];
  const lines = rows.map((r) => [
    r.policy,
    r.workers,
    r.tasks,
    r.placed,
    r.unplaced,
    r.msPerPlan.toFixed(2),
    r.placementsPerSecond.toLocaleString('en-US'),
    r.tasksPerSecond.toLocaleString('en-US'),
    r.targetRatio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = String(arg('workers', '100,1000,5000')).split(',').map(Number);
  const taskCount = Number(arg('tasks', 10_000));
  const runs = Number(arg('runs', 7));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !Number.isInteger(taskCount) || taskCount < 1 || !(runs >= 1)) {
    console.error('usage: node bench/scheduler-plan.mjs [--runs N] [--tasks N] [--workers 100,1000,5000]');
    process.exit(2);
  }
  console.log(`plan() on ${taskCount.toLocaleString('en-US')} queued tasks; median of ${runs} runs after warm-up`);
  console.log(`target: ${TARGET_PLACEMENTS_PER_SECOND.toLocaleString('en-US')} placements/s at 1,000 workers\n`);
  const rows = runBench({ sizes, taskCount, runs });
  printTable(rows);
  const target = rows.filter((r) => r.workers === 1_000);
  const meetsTarget = target.length > 0 && target.every((r) => r.placementsPerSecond >= TARGET_PLACEMENTS_PER_SECOND);
  result('scheduler-plan', { targetPlacementsPerSecond: TARGET_PLACEMENTS_PER_SECOND, meetsTarget, rows });
}
