import type { TaskStatus } from './status.js';

/**
 * Why a task ended, in a few words a metric label can hold (a reason is
 * free text and unbounded). Each class names who or what to look at.
 */
export const FAILURE_CLASSES = [
  /** it succeeded */
  'none',
  /** its command exited non-zero */
  'exit_code',
  /** the kernel killed it at its memory limit */
  'oom',
  /** it ran past its timeout */
  'timeout',
  /** a user cancelled it */
  'cancelled',
  /** its worker was lost, restarted, shut down or could not take it, until no attempt was left */
  'worker_lost',
  /** a worker refused the task itself (e.g. it asks for a network the worker does not allow) */
  'rejected',
  /** its image was neither on the worker nor pullable */
  'image',
  /** the engine could not create or start its container (e.g. the command does not exist) */
  'container',
  /** its outputs could not be packed, were refused by storage, or their upload was refused */
  'upload',
  /** the worker could not prepare the task (its output folder) */
  'internal',
  /** a reason this classifier does not recognise, e.g. from a worker of another version */
  'unknown',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** The ended statuses and the classes each can have: every label pair a finished task can get. */
export const FAILURE_CLASSES_BY_STATUS = {
  SUCCEEDED: ['none'],
  FAILED: ['exit_code', 'oom', 'worker_lost', 'rejected', 'image', 'container', 'upload', 'internal', 'unknown'],
  CANCELLED: ['cancelled'],
  TIMED_OUT: ['timeout'],
} as const satisfies Record<Extract<TaskStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT'>, readonly FailureClass[]>;

/**
 * How the reasons of FAILED tasks begin, and their classes. The reasons are
 * free text written elsewhere, so this is a match on their wording: the
 * worker's (apps/worker/src/execution.ts, output-uploader.ts,
 * docker-executor.ts) and the master's when it gives up on a task
 * (apps/master/src/task-manager.ts, placement.ts, worker-registry.ts, all
 * "worker <id> …"). A reworded reason falls to `unknown` (or `exit_code`
 * when the task has a non-zero exit code), which failure-class.test.ts
 * pins for each wording.
 */
const FAILED_REASONS: ReadonlyArray<readonly [RegExp, FailureClass]> = [
  [/^out of memory\b/, 'oom'],
  [/^exited with code\b/, 'exit_code'],
  [/^image \S+ is not available\b/, 'image'],
  [/^container could not be run\b/, 'container'],
  [/^outputs (could not be|rejected)\b/, 'upload'],
  [/^output folder could not be created\b/, 'internal'],
  [/^worker shut down\b/, 'worker_lost'],
  [/^worker \S+ refused the task\b/, 'rejected'],
  [/^worker \S+ /, 'worker_lost'],
];

/** The class of a task that ended with `status`, from its reason and exit code; undefined while it has not ended. */
export function failureClassOf(task: { status: TaskStatus; reason: string; exitCode: number | null }): FailureClass | undefined {
  switch (task.status) {
    case 'SUCCEEDED':
      return 'none';
    case 'CANCELLED':
      return 'cancelled';
    case 'TIMED_OUT':
      return 'timeout';
    case 'FAILED': {
      const known = FAILED_REASONS.find(([pattern]) => pattern.test(task.reason));
      if (known) return known[1];
      return task.exitCode !== null && task.exitCode !== 0 ? 'exit_code' : 'unknown';
    }
    default:
      return undefined;
  }
}
