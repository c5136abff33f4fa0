import { dimensionLabel, firstShortfall, formatDimension, RESOURCE_KEYS, ZERO_UNITS, type ResourceUnits } from '@cloudai/domain';

// The reasons a task stays queued, as the user reads them: each names the
// dimension that is short. Amounts come from the plan's flat arrays (see
// PlanState), a worker's dimension d at offset b + d.

/** The units of one worker (or the cluster-wide maxima at 0) in the plan's flat arrays. */
function unitsAt(values: Float64Array, b: number): ResourceUnits {
  const units = { ...ZERO_UNITS };
  RESOURCE_KEYS.forEach((key, d) => (units[key] = values[b + d]!));
  return units;
}

/** formatDimension, clamped at 0. */
function fmt(key: keyof ResourceUnits, value: number): string {
  return formatDimension(key, Math.max(0, value));
}

/** "8 GB memory", "2 cores", "1 GPU": a quantity that names its dimension. */
function amount(key: keyof ResourceUnits, value: number): string {
  const v = fmt(key, value);
  return key === 'memoryMb' || key === 'storageMb' ? `${v} ${dimensionLabel(key)}` : v;
}

/** "8 GB free memory", "2 cores free", "1 GPU free". */
function freeAmount(key: keyof ResourceUnits, value: number): string {
  const v = fmt(key, value);
  return key === 'memoryMb' || key === 'storageMb' ? `${v} free ${dimensionLabel(key)}` : `${v} free`;
}

/** Why a task that needs more than any worker has in total can never be placed. */
export function neverReason(need: ResourceUnits, maxCap: Float64Array): string {
  const key = firstShortfall(need, unitsAt(maxCap, 0))!;
  const largest = fmt(key, maxCap[RESOURCE_KEYS.indexOf(key)]!);
  return `no worker has ${amount(key, need[key])} in total (largest: ${largest}); it can never be placed`;
}

/** Why a task fits no worker's free capacity right now; `maxFree` holds the largest free per dimension. */
export function noRoomReason(need: ResourceUnits, maxFree: Float64Array): string {
  const key = firstShortfall(need, unitsAt(maxFree, 0));
  if (key !== undefined) {
    const largest = fmt(key, maxFree[RESOURCE_KEYS.indexOf(key)]!);
    return `no worker has ${freeAmount(key, need[key])}; largest free: ${largest}`;
  }
  // Every dimension is free somewhere, just never all on the same worker.
  const parts = RESOURCE_KEYS.filter((k) => need[k] > 0).map((k) => amount(k, need[k]));
  if (parts.length === 0) return 'no worker has room for it';
  const list = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
  return `no worker has ${list} free at the same time`;
}

/** Why a task pinned to `workerId` does not fit there; `b` is the worker's offset in the flat arrays. */
export function pinnedReason(
  workerId: string,
  need: ResourceUnits,
  capacity: Float64Array,
  free: Float64Array,
  b: number,
): string {
  const total = firstShortfall(need, unitsAt(capacity, b));
  if (total !== undefined) {
    const has = amount(total, capacity[b + RESOURCE_KEYS.indexOf(total)]!);
    return `worker ${workerId} has only ${has} in total (needs ${fmt(total, need[total])}); it can never run there`;
  }
  const key = firstShortfall(need, unitsAt(free, b))!;
  const has = freeAmount(key, free[b + RESOURCE_KEYS.indexOf(key)]!);
  return `worker ${workerId} has only ${has} (needs ${fmt(key, need[key])})`;
}
