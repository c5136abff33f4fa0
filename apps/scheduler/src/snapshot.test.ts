import { describe, expect, it } from 'vitest';
import { toPlanInput } from './snapshot.js';

describe('toPlanInput', () => {
  it('validates the snapshot, fills defaults and derives free capacity', () => {
    const input = toPlanInput(
      {
        tasks: [
          { taskId: 't1', resources: { cpu: 2 }, pinnedWorkerId: '', submittedAt: new Date(5), attempt: 0 },
          { taskId: 't1', resources: {}, pinnedWorkerId: '', submittedAt: undefined, attempt: 0 },
          { taskId: '', resources: {}, pinnedWorkerId: '', submittedAt: undefined, attempt: 0 },
          { taskId: 't2', resources: { gpu: Number.NaN }, pinnedWorkerId: 'w-1', submittedAt: undefined, attempt: 0 },
          { taskId: 't3', resources: undefined, pinnedWorkerId: 'w-1', submittedAt: undefined, attempt: 0 },
          { taskId: 't4', resources: {}, pinnedWorkerId: '', submittedAt: undefined, attempt: 0 },
        ],
        workers: [
          { workerId: 'w-1', capacity: { cpu: 4, memoryGb: 8 }, allocated: { cpu: 5, memoryGb: 2 } },
          { workerId: 'w-1', capacity: { cpu: 64 }, allocated: undefined },
          { workerId: 'w-2', capacity: { cpu: Number.POSITIVE_INFINITY }, allocated: undefined },
          { workerId: '', capacity: { cpu: 1 }, allocated: undefined },
        ],
        generation: 7,
      },
      3,
    );
    expect(input.workers).toEqual([
      {
        workerId: 'w-1',
        capacity: { cpuMillis: 4000, memoryMb: 8192, storageMb: 0, gpu: 0 },
        free: { cpuMillis: 0, memoryMb: 6144, storageMb: 0, gpu: 0 },
      },
    ]);
    // maxTasks = 3: only the first three entries are looked at.
    expect(input.tasks).toEqual([
      {
        taskId: 't1',
        units: { cpuMillis: 2000, memoryMb: 512, storageMb: 1024, gpu: 0 },
        pinnedWorkerId: undefined,
        submittedAt: 5,
      },
    ]);
    expect(input.problems).toEqual([
      'worker w-1 appears twice; the second entry was skipped',
      'worker w-2 was skipped: capacity.cpu must be a finite number >= 0, got Infinity',
      'a worker without worker_id was skipped',
      'task t1 appears twice; the second entry was skipped',
      'a task without task_id was skipped',
    ]);
    const all = toPlanInput(
      {
        tasks: [{ taskId: 't2', resources: { gpu: Number.NaN }, pinnedWorkerId: 'w-1', submittedAt: undefined, attempt: 0 }],
        workers: [],
        generation: 0,
      },
      10,
    );
    expect(all.invalid).toEqual([
      { taskId: 't2', reason: 'cannot be scheduled: resources.gpu must be a finite number >= 0, got NaN' },
    ]);
  });
});
