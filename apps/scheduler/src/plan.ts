import { RESOURCE_KEYS, type ResourceUnits } from '@cloudai/domain';
import { binpack, D, type PlanState, type Policy } from './policies.js';
import { neverReason, noRoomReason, pinnedReason } from './reasons.js';

export interface PlanTask {
  readonly taskId: string;
  readonly units: ResourceUnits;
  /** set by DispatchTask: the task may run only on this worker */
  readonly pinnedWorkerId?: string | undefined;
  /** ms since the epoch; the input is already oldest first */
  readonly submittedAt: number;
}

export interface PlanWorker {
  readonly workerId: string;
  readonly capacity: ResourceUnits;
  readonly free: ResourceUnits;
}

export interface PlannedPlacement {
  taskId: string;
  workerId: string;
}

export interface UnplacedTask {
  taskId: string;
  /** for the user: names the dimension that is short */
  reason: string;
}

export interface Plan {
  placements: PlannedPlacement[];
  unplaced: UnplacedTask[];
}

// Recent needs that fit nowhere. Free capacity only shrinks during a plan,
// so a later task needing at least as much on every dimension cannot fit
// either; checking a handful of them is far cheaper than scanning workers.
const FAILURE_CACHE = 8;
// Reasons for recent needs. A full cluster turns thousands of same-shaped
// tasks away per plan; formatting each reason anew would cost more than planning.
const REASON_CACHE = 8;
const ALWAYS = -1;
const UNUSED = -2;

/**
 * Places `tasks` in the given order (oldest first) on `workers`, FIFO with
 * backfill: a task that does not fit is left queued with a reason and the
 * tasks behind it are still tried. Never places more on a worker than its
 * `free` capacity. Task and worker ids must be unique.
 */
export function plan(tasks: readonly PlanTask[], workers: readonly PlanWorker[], policy: Policy = binpack): Plan {
  const n = workers.length;
  const free = new Float64Array(n * D);
  const capacity = new Float64Array(n * D);
  const maxCap = new Float64Array(D);
  // Largest free per dimension; an upper bound while `maxFreeStale`, exact otherwise.
  const maxFree = new Float64Array(D).fill(-Infinity);
  const index = new Map<string, number>();
  for (let w = 0; w < n; w++) {
    const worker = workers[w]!;
    if (!index.has(worker.workerId)) index.set(worker.workerId, w);
    for (let d = 0; d < D; d++) {
      const key = RESOURCE_KEYS[d]!;
      const c = worker.capacity[key];
      const f = worker.free[key];
      capacity[w * D + d] = c;
      free[w * D + d] = f;
      if (c > maxCap[d]!) maxCap[d] = c;
      if (f > maxFree[d]!) maxFree[d] = f;
    }
  }
  const scale = new Float64Array(D);
  for (let d = 0; d < D; d++) scale[d] = maxCap[d]! > 0 ? 1 / maxCap[d]! : 0;
  const state: PlanState = { workerCount: n, free, capacity, scale };
  let maxFreeStale = false;

  // Workers sorted by (rank, input position): the first one a task fits on is the policy's choice.
  const rank = new Float64Array(n);
  for (let w = 0; w < n; w++) rank[w] = policy.rank(state, w);
  const order = Int32Array.from({ length: n }, (_, w) => w).sort((a, b) => rank[a]! - rank[b]! || a - b);
  // First position in order[lo, hi) whose worker sorts after (r, w).
  const upperBound = (r: number, w: number, lo: number, hi: number) => {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = order[mid]!;
      if (rank[m]! < r || (rank[m] === r && m <= w)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const failures = new Float64Array(FAILURE_CACHE * D);
  let failureCount = 0;
  let failureNext = 0;

  const need = new Float64Array(D);
  const placements: PlannedPlacement[] = [];
  const unplaced: UnplacedTask[] = [];

  // A cached reason is valid while `epoch` (bumped whenever the largest free
  // amounts are recomputed) is the one it was made in, or forever when ALWAYS.
  const reasonNeed = new Float64Array(REASON_CACHE * D);
  const reasonEpoch = new Int32Array(REASON_CACHE).fill(UNUSED);
  const reasonText: string[] = Array.from({ length: REASON_CACHE }, () => '');
  let reasonNext = 0;
  let epoch = 0;
  const reasonFor = (need: ResourceUnits, never: boolean) => {
    const validity = never ? ALWAYS : epoch;
    const n0 = need.cpuMillis;
    const n1 = need.memoryMb;
    const n2 = need.storageMb;
    const n3 = need.gpu;
    for (let i = 0; i < REASON_CACHE; i++) {
      const e = reasonEpoch[i]!;
      const b = i * D;
      if (
        (e === validity || e === ALWAYS) &&
        reasonNeed[b] === n0 &&
        reasonNeed[b + 1] === n1 &&
        reasonNeed[b + 2] === n2 &&
        reasonNeed[b + 3] === n3
      ) {
        return reasonText[i]!;
      }
    }
    const text = never ? neverReason(need, maxCap) : noRoomReason(need, maxFree);
    const b = reasonNext * D;
    reasonNeed[b] = n0;
    reasonNeed[b + 1] = n1;
    reasonNeed[b + 2] = n2;
    reasonNeed[b + 3] = n3;
    reasonEpoch[reasonNext] = validity;
    reasonText[reasonNext] = text;
    reasonNext = (reasonNext + 1) % REASON_CACHE;
    return text;
  };

  const refreshMaxFree = () => {
    epoch++;
    maxFree.fill(-Infinity);
    for (let w = 0; w < n; w++) {
      for (let d = 0; d < D; d++) if (free[w * D + d]! > maxFree[d]!) maxFree[d] = free[w * D + d]!;
    }
    maxFreeStale = false;
  };

  const place = (task: PlanTask, w: number) => {
    const b = w * D;
    for (let d = 0; d < D; d++) {
      const before = free[b + d]!;
      if (need[d]! > 0 && before >= maxFree[d]!) maxFreeStale = true;
      free[b + d] = before - need[d]!;
    }
    // Move the worker to its new place in `order`, shifting only the span between.
    const oldRank = rank[w]!;
    const i = upperBound(oldRank, w, 0, n) - 1;
    const newRank = policy.rank(state, w);
    rank[w] = newRank;
    if (newRank > oldRank) {
      const q = upperBound(newRank, w, i + 1, n);
      order.copyWithin(i, i + 1, q);
      order[q - 1] = w;
    } else if (newRank < oldRank) {
      const q = upperBound(newRank, w, 0, i);
      order.copyWithin(q + 1, q, i);
      order[q] = w;
    }
    placements.push({ taskId: task.taskId, workerId: workers[w]!.workerId });
  };

  const fitsNowhere = (task: PlanTask) => {
    if (maxFreeStale) refreshMaxFree();
    unplaced.push({ taskId: task.taskId, reason: reasonFor(task.units, false) });
  };

  for (let t = 0; t < tasks.length; t++) {
    const task = tasks[t]!;
    const u = task.units;
    // Unrolled for the four dimensions, in the order policies.ts pins down.
    const n0 = (need[0] = u.cpuMillis);
    const n1 = (need[1] = u.memoryMb);
    const n2 = (need[2] = u.storageMb);
    const n3 = (need[3] = u.gpu);

    if (task.pinnedWorkerId) {
      const w = index.get(task.pinnedWorkerId);
      if (w === undefined) {
        unplaced.push({
          taskId: task.taskId,
          reason: `worker ${task.pinnedWorkerId} is not registered or not accepting tasks`,
        });
        continue;
      }
      const b = w * D;
      if (n0 <= free[b]! && n1 <= free[b + 1]! && n2 <= free[b + 2]! && n3 <= free[b + 3]!) place(task, w);
      else unplaced.push({ taskId: task.taskId, reason: pinnedReason(task.pinnedWorkerId, u, capacity, free, b) });
      continue;
    }

    if (n === 0) {
      unplaced.push({ taskId: task.taskId, reason: 'no workers are registered' });
      continue;
    }
    if (n0 > maxCap[0]! || n1 > maxCap[1]! || n2 > maxCap[2]! || n3 > maxCap[3]!) {
      unplaced.push({ taskId: task.taskId, reason: reasonFor(u, true) });
      continue;
    }
    if (n0 > maxFree[0]! || n1 > maxFree[1]! || n2 > maxFree[2]! || n3 > maxFree[3]!) {
      fitsNowhere(task);
      continue;
    }
    let known = false;
    for (let i = 0; i < failureCount; i++) {
      const b = i * D;
      if (n0 >= failures[b]! && n1 >= failures[b + 1]! && n2 >= failures[b + 2]! && n3 >= failures[b + 3]!) {
        known = true;
        break;
      }
    }
    if (known) {
      fitsNowhere(task);
      continue;
    }

    let start = 0;
    if (policy.minRankToFit !== undefined) start = upperBound(policy.minRankToFit(state, need), -1, 0, n);
    let chosen = -1;
    for (let i = start; i < n; i++) {
      const w = order[i]!;
      const b = w * D;
      if (n0 <= free[b]! && n1 <= free[b + 1]! && n2 <= free[b + 2]! && n3 <= free[b + 3]!) {
        chosen = w;
        break;
      }
    }
    if (chosen >= 0) {
      place(task, chosen);
      continue;
    }
    const b = failureNext * D;
    failures[b] = n0;
    failures[b + 1] = n1;
    failures[b + 2] = n2;
    failures[b + 3] = n3;
    failureNext = (failureNext + 1) % FAILURE_CACHE;
    if (failureCount < FAILURE_CACHE) failureCount++;
    fitsNowhere(task);
  }
  return { placements, unplaced };
}
