import { RESOURCE_KEYS } from '@cloudai/domain';

/**
 * The dimensions in the order of the plan's flat arrays. The plan's and the
 * policies' inner loops are unrolled for exactly these four: the type makes
 * any change to RESOURCE_KEYS a compile error here instead of a silent
 * misreading of the arrays.
 */
const UNROLLED_KEYS: readonly ['cpuMillis', 'memoryMb', 'storageMb', 'gpu'] = RESOURCE_KEYS;

/** Dimensions per worker in the plan's flat arrays. */
export const D = UNROLLED_KEYS.length;

/**
 * The plan's working view of the cluster, laid out flat so the inner loop
 * reads numbers, not objects: worker `w`'s dimension `d` (in RESOURCE_KEYS
 * order: cpuMillis, memoryMb, storageMb, gpu) is at index `w * D + d`.
 */
export interface PlanState {
  readonly workerCount: number;
  /** free units, already reduced by the placements made earlier in this plan */
  readonly free: Float64Array;
  readonly capacity: Float64Array;
  /**
   * Per dimension, 1 / the largest worker capacity in the cluster (0 where
   * no worker has any), so that a core and a GB weigh the same relative to
   * the cluster and no unit dominates a score by its size.
   */
  readonly scale: Float64Array;
}

/**
 * Chooses among the workers a task fits on: the plan places each task on
 * the fitting worker of lowest `rank`, ties going to the worker listed
 * first. A rank depends only on the worker's own state (not on the task),
 * which lets the plan keep workers sorted and stop at the first fit instead
 * of scoring every worker for every task.
 */
export interface Policy {
  readonly name: string;
  rank(state: PlanState, w: number): number;
  /**
   * Optional: a rank below which no worker can fit `need` (the task's D
   * dimensions), so the plan can skip those workers without looking.
   */
  minRankToFit?(state: PlanState, need: Float64Array): number;
}

/** Free capacity of worker `w`, each dimension scaled, summed. */
function scaledFree(state: PlanState, w: number): number {
  const free = state.free;
  const scale = state.scale;
  const b = w * D;
  return free[b]! * scale[0]! + free[b + 1]! * scale[1]! + free[b + 2]! * scale[2]! + free[b + 3]! * scale[3]!;
}

/**
 * Best fit: the worker left with the least free capacity after placement.
 * Fills workers up and keeps large holes open for large tasks; unused GPUs
 * count as free capacity, so CPU-only tasks drift away from GPU workers.
 */
export const binpack: Policy = {
  name: 'binpack',
  // Free after placement is scaledFree - scaledNeed for every candidate, so
  // ranking by what is free now gives the same order.
  rank: scaledFree,
  // A worker that fits has at least `need` free on every dimension, so its
  // scaled sum is at least the need's (the same sum, and rounding is monotonic).
  minRankToFit(state, need) {
    const scale = state.scale;
    return need[0]! * scale[0]! + need[1]! * scale[1]! + need[2]! * scale[2]! + need[3]! * scale[3]!;
  },
};

/** Worst fit: the worker left with the most free capacity, spreading load. */
export const spread: Policy = {
  name: 'spread',
  rank: (state, w) => -scaledFree(state, w),
};

export const POLICY_NAMES = ['binpack', 'spread'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

const POLICIES: Record<PolicyName, Policy> = { binpack, spread };

export function policyByName(name: PolicyName): Policy {
  return POLICIES[name];
}
