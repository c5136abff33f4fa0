import { EventEmitter, on } from 'node:events';
import { ACTIVE_STATUSES, type TaskStatus, type TaskTransition } from '@cloudai/domain';
import type { TaskRecord } from '@cloudai/store';

/** What happened to a worker. */
export type WorkerChangeKind = 'registered' | 'lost' | 'drained' | 'resumed' | 'repaired';

/** Something changed in the master's state; what listeners wake up for. */
export type Change =
  /** a task was submitted (transition undefined) or moved through a transition */
  | {
      kind: 'task';
      taskId: string;
      status: TaskStatus;
      transition: TaskTransition | undefined;
      /** the task as the change left it */
      task: TaskRecord;
      /** the assignment the move ended (the task left its worker), if any */
      endedAssignmentId?: string | undefined;
      /** the worker that assignment was on (a retried task's record no longer names it) */
      endedWorkerId?: string | undefined;
    }
  /** new log chunks of a task were stored (bytes kept; bytes dropped by the cap or the worker's buffers) */
  | { kind: 'logs'; taskId: string; storedBytes: number; droppedBytes: number }
  /** a worker joined, left, was drained or resumed, or its free capacity was repaired */
  | { kind: 'worker'; workerId: string; what: WorkerChangeKind; reason?: string };

/**
 * The master's one change channel. Components report every change here;
 * the scheduler's long poll, log followers and the assignment dispatcher
 * each listen for the changes they care about.
 */
export class MasterEvents {
  // Seeded from the clock so a restarted master never hands out a
  // generation a scheduler has already seen (which would park its long poll).
  private generationValue = Date.now();
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** Bumped by every change that can affect placement; schedulers long-poll on it. */
  get generation(): number {
    return this.generationValue;
  }

  emit(change: Change): void {
    if (affectsPlacement(change)) {
      this.generationValue++;
      this.emitter.emit('generation', this.generationValue);
    }
    if (change.kind !== 'worker') this.emitter.emit(`task:${change.taskId}`);
    this.emitter.emit('change', change);
  }

  /** Calls `listener` with every change until `signal` aborts. */
  subscribe(listener: (change: Change) => void, signal: AbortSignal): void {
    this.emitter.on('change', listener);
    signal.addEventListener('abort', () => this.emitter.off('change', listener), { once: true });
  }

  /** Resolves when the generation passes `after`, after `waitMs`, or on abort. */
  async waitForChange(after: number, waitMs: number, signal: AbortSignal): Promise<void> {
    if (this.generationValue > after || waitMs <= 0) return;
    await firstEvent(this.emitter, 'generation', AbortSignal.any([signal, AbortSignal.timeout(waitMs)]), (generation) => {
      return (generation as number) > after;
    });
  }

  /** Resolves on the next change of the task (a move or new log chunks), or on abort. */
  async waitForTask(taskId: string, signal: AbortSignal): Promise<void> {
    await firstEvent(this.emitter, `task:${taskId}`, signal, () => true);
  }
}

/**
 * New work to place (a task queued), resources freed (a task left its
 * worker) or workers changed. A task starting or uploading changes nothing
 * a scheduler sees.
 */
function affectsPlacement(change: Change): boolean {
  if (change.kind === 'worker') return true;
  if (change.kind === 'logs') return false;
  return change.status === 'QUEUED' || !(ACTIVE_STATUSES as readonly TaskStatus[]).includes(change.status);
}

async function firstEvent(
  emitter: EventEmitter,
  name: string,
  signal: AbortSignal,
  accept: (value: unknown) => boolean,
): Promise<void> {
  try {
    for await (const [value] of on(emitter, name, { signal })) if (accept(value)) return;
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
}
