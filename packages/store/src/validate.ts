import { RESOURCE_KEYS, type ResourceUnits } from '@cloudai/domain';
import type { TaskPatch } from './records.js';

/**
 * Refuses units that are not non-negative safe integers: a negative
 * reservation would silently grow a worker's free capacity.
 */
export function checkUnits(units: ResourceUnits, what: string): void {
  for (const key of RESOURCE_KEYS) {
    const v = units[key];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${what}.${key} must be a non-negative integer, got ${String(v)}`);
    }
  }
}

export function checkLimit(limit: number, what: string): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`${what} must be a positive integer, got ${String(limit)}`);
  }
}

export const PATCHABLE_FIELDS = [
  'status',
  'reason',
  'attempt',
  'assignmentId',
  'workerId',
  'exitCode',
  'scheduledAt',
  'startedAt',
  'finishedAt',
  'outputFiles',
  'outputBytes',
  'logBytes',
] as const satisfies readonly (keyof TaskPatch)[];

type PatchField = (typeof PATCHABLE_FIELDS)[number];

/**
 * The patch's defined entries, in a fixed order (so equal shapes share one
 * prepared statement). A field outside TaskPatch is a caller bug, not
 * something to drop quietly.
 */
export function patchEntries(patch: TaskPatch): [PatchField, unknown][] {
  for (const key of Object.keys(patch)) {
    if (!(PATCHABLE_FIELDS as readonly string[]).includes(key)) {
      throw new RangeError(`updateTask: field "${key}" cannot be patched`);
    }
  }
  return PATCHABLE_FIELDS.filter((k) => patch[k] !== undefined).map((k) => [k, patch[k]]);
}
