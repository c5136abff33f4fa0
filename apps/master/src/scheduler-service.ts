import { fromUnits, subtractUnits } from '@cloudai/domain';
import type { SchedulerServiceImplementation } from '@cloudai/proto';
import { invalidArgument, resourcesToProto } from '@cloudai/rpc';
import type { MasterEvents } from './events.js';
import type { Placement } from './placement.js';
import { idField, workerIdField } from './request-fields.js';

const DEFAULT_SNAPSHOT = 10_000;
const MAX_SNAPSHOT = 100_000;
const MAX_WAIT_MS = 30_000;

/** The API schedulers call: a snapshot to plan on, and plans to commit. */
export function schedulerService(placement: Placement, events: MasterEvents): SchedulerServiceImplementation {
  return {
    async getSnapshot(req, context) {
      if (req.maxTasks > MAX_SNAPSHOT) throw invalidArgument(`max_tasks must be <= ${MAX_SNAPSHOT}`);
      if (req.waitMs > MAX_WAIT_MS) throw invalidArgument(`wait_ms must be <= ${MAX_WAIT_MS}`);
      await events.waitForChange(req.afterGeneration, req.waitMs, context.signal);
      const snap = await placement.snapshot(req.maxTasks || DEFAULT_SNAPSHOT);
      return {
        generation: snap.generation,
        tasks: snap.tasks.map((t) => ({
          taskId: t.taskId,
          resources: resourcesToProto(t.resources),
          pinnedWorkerId: t.pinnedWorkerId ?? '',
          submittedAt: t.submittedAt,
          attempt: t.attempt,
        })),
        workers: snap.workers.map((w) => ({
          workerId: w.workerId,
          capacity: resourcesToProto(fromUnits(w.capacity)),
          allocated: resourcesToProto(fromUnits(subtractUnits(w.capacity, w.free))),
        })),
      };
    },

    async commitPlacements(req) {
      const results = [];
      // Every id is checked before anything is committed.
      for (const [i, p] of req.placements.entries()) {
        idField(p.taskId, `placements[${i}].task_id`);
        workerIdField(p.workerId, `placements[${i}].worker_id`);
      }
      for (const [i, u] of req.unplaced.entries()) idField(u.taskId, `unplaced[${i}].task_id`);
      for (const p of req.placements) results.push(await placement.place(p.taskId, p.workerId));
      for (const u of req.unplaced) {
        if (u.reason) await placement.noteUnplaced(u.taskId, u.reason);
      }
      return { results };
    },
  };
}
