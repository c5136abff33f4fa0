import { formatBytes } from '@cloudai/domain';
import { TaskProgress } from '@cloudai/proto';
import { failedPrecondition, invalidArgument } from '@cloudai/rpc';
import type { EventSink } from './event-sink.js';
import type { TaskManager } from './task-manager.js';

export interface ProgressReport {
  taskId: string;
  assignmentId: string;
  progress: TaskProgress;
  bytes: number;
  files: number;
  durationMs: number;
}

/**
 * A worker's progress between status reports (pulling the image, outputs
 * stored), recorded as the task's events. Like every other report, only for
 * the worker's own current assignment.
 */
export class WorkerProgress {
  constructor(
    private readonly tasks: TaskManager,
    private readonly events: EventSink,
  ) {}

  async report(workerId: string, r: ProgressReport): Promise<void> {
    if (r.progress !== TaskProgress.TASK_PROGRESS_PULLING_IMAGE && r.progress !== TaskProgress.TASK_PROGRESS_OUTPUTS_STORED) {
      throw invalidArgument(`progress must be PULLING_IMAGE or OUTPUTS_STORED, got ${String(r.progress)}`);
    }
    const task = await this.tasks.requireOnWorker(r.taskId, r.assignmentId, workerId);
    if (task.assignmentId !== r.assignmentId) {
      throw failedPrecondition(`assignment ${r.assignmentId} is no longer current for task ${r.taskId}`);
    }
    const base = { taskId: task.taskId, workerId, userId: task.userId, attempt: task.attempt };
    if (r.progress === TaskProgress.TASK_PROGRESS_PULLING_IMAGE) {
      this.events.record({ ...base, kind: 'task.pulling_image', message: `pulling image ${task.image}` });
      return;
    }
    const took = r.durationMs > 0 ? ` in ${(r.durationMs / 1000).toFixed(1)} s` : '';
    const files = `${r.files} file${r.files === 1 ? '' : 's'}`;
    this.events.record({ ...base, kind: 'task.outputs_stored', message: `stored ${files} (${formatBytes(r.bytes)})${took}` });
  }
}
