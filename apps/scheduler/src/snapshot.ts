import { DEFAULT_RESOURCES, RESOURCE_KEYS, toUnits, type Resources, type ResourceUnits } from '@cloudai/domain';
import type { GetSnapshotResponse } from '@cloudai/proto';
import { resourcesFromProto } from '@cloudai/rpc';
import type { PlanTask, PlanWorker, UnplacedTask } from './plan.js';

export interface PlanInput {
  tasks: PlanTask[];
  workers: PlanWorker[];
  /** tasks whose snapshot entry is unusable, with a reason naming the field */
  invalid: UnplacedTask[];
  /** things dropped from the snapshot, for the log */
  problems: string[];
}

const PROTO_FIELDS: Record<keyof Resources, string> = {
  cpu: 'cpu',
  memoryGb: 'memory_gb',
  storageGb: 'storage_gb',
  gpu: 'gpu',
};

/**
 * Resources from the snapshot as exact units, or the first bad field.
 * `fill` supplies fields the master left unset.
 */
function checkedUnits(
  r: Partial<Resources>,
  fill: Readonly<Resources>,
  prefix: string,
): { units: ResourceUnits } | { problem: string } {
  const full = { ...fill, ...r };
  for (const key of Object.keys(PROTO_FIELDS) as (keyof Resources)[]) {
    const v = full[key];
    if (!Number.isFinite(v) || v < 0) {
      return { problem: `${prefix}.${PROTO_FIELDS[key]} must be a finite number >= 0, got ${String(v)}` };
    }
  }
  return { units: toUnits(full) };
}

const ZERO: Readonly<Resources> = { cpu: 0, memoryGb: 0, storageGb: 0, gpu: 0 };

/**
 * Turns the master's snapshot into plan input. The snapshot is untrusted:
 * entries without an id or with duplicate ids are dropped, tasks with bad
 * resources are reported back as unplaced, and workers with bad capacity
 * are left out. Unset task resources take the submit defaults; unset worker
 * fields count as 0. A worker allocated past its capacity has 0 free.
 */
export function toPlanInput(snapshot: GetSnapshotResponse, maxTasks: number): PlanInput {
  const problems: string[] = [];
  const invalid: UnplacedTask[] = [];

  const workers: PlanWorker[] = [];
  const workerIds = new Set<string>();
  for (const w of snapshot.workers) {
    if (!w.workerId) {
      problems.push('a worker without worker_id was skipped');
      continue;
    }
    if (workerIds.has(w.workerId)) {
      problems.push(`worker ${w.workerId} appears twice; the second entry was skipped`);
      continue;
    }
    workerIds.add(w.workerId);
    const capacity = checkedUnits(resourcesFromProto(w.capacity), ZERO, 'capacity');
    const allocated = checkedUnits(resourcesFromProto(w.allocated), ZERO, 'allocated');
    if ('problem' in capacity || 'problem' in allocated) {
      const problem = 'problem' in capacity ? capacity.problem : (allocated as { problem: string }).problem;
      problems.push(`worker ${w.workerId} was skipped: ${problem}`);
      continue;
    }
    const free = { ...capacity.units };
    for (const k of RESOURCE_KEYS) free[k] = Math.max(0, capacity.units[k] - allocated.units[k]);
    workers.push({ workerId: w.workerId, capacity: capacity.units, free });
  }

  const tasks: PlanTask[] = [];
  const taskIds = new Set<string>();
  for (const t of snapshot.tasks.slice(0, maxTasks)) {
    if (!t.taskId) {
      problems.push('a task without task_id was skipped');
      continue;
    }
    if (taskIds.has(t.taskId)) {
      problems.push(`task ${t.taskId} appears twice; the second entry was skipped`);
      continue;
    }
    taskIds.add(t.taskId);
    const checked = checkedUnits(resourcesFromProto(t.resources), DEFAULT_RESOURCES, 'resources');
    if ('problem' in checked) {
      invalid.push({ taskId: t.taskId, reason: `cannot be scheduled: ${checked.problem}` });
      problems.push(`task ${t.taskId}: ${checked.problem}`);
      continue;
    }
    tasks.push({
      taskId: t.taskId,
      units: checked.units,
      pinnedWorkerId: t.pinnedWorkerId || undefined,
      submittedAt: t.submittedAt?.getTime() ?? 0,
    });
  }
  return { tasks, workers, invalid, problems };
}
