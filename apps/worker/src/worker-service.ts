import { ID_PATTERN, ID_RULE, quoted, reportedText, validateTaskSpec, WORKER_ID_PATTERN, WORKER_ID_RULE } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import type { AssignTaskRequest, WorkerServiceImplementation } from '@cloudai/proto';
import { failedPrecondition, invalidArgument, markAnsweredBy } from '@cloudai/rpc';
import type { ExecutionTask } from './execution.js';
import type { TaskRunner } from './task-runner.js';

// Ids become container names ("cloudai-<assignment id>") and label values,
// which is what the shared id rule is made for.

/** Longest cancellation reason kept; the master's are at most 500 characters. */
const MAX_CANCEL_REASON_CHARS = 500;

function idOf(value: string, field: string): string {
  if (!ID_PATTERN.test(value)) throw invalidArgument(`${field} must be ${ID_RULE}`);
  return value;
}

export interface AssignmentPolicy {
  workerId: string;
  /** WORKER_ALLOW_NETWORK: whether tasks asking for network get the default network */
  allowNetwork: boolean;
}

/**
 * Checks an AssignTask request field by field and turns it into what an
 * execution needs. Throws INVALID_ARGUMENT naming the field, or
 * FAILED_PRECONDITION when the request is well-formed but this worker
 * cannot run it.
 */
export function validateAssignment(request: AssignTaskRequest, policy: AssignmentPolicy): ExecutionTask {
  const a = request.assignment;
  if (!a) throw invalidArgument('assignment is required');
  if (!a.assignmentId) throw invalidArgument('assignment.assignment_id is required');
  idOf(a.assignmentId, 'assignment.assignment_id');
  if (!a.taskId) throw invalidArgument('assignment.task_id is required');
  idOf(a.taskId, 'assignment.task_id');
  if (a.workerId && !WORKER_ID_PATTERN.test(a.workerId)) throw invalidArgument(`assignment.worker_id must be ${WORKER_ID_RULE}`);
  if (a.workerId && a.workerId !== policy.workerId) {
    throw failedPrecondition(`assignment.worker_id is ${quoted(a.workerId)} but this worker is ${quoted(policy.workerId)}`);
  }
  const task = a.task;
  if (!task) throw invalidArgument('assignment.task is required');
  if (task.taskId && task.taskId !== a.taskId) {
    throw invalidArgument(
      `assignment.task.task_id ${quoted(task.taskId)} does not match assignment.task_id ${quoted(a.taskId)}`,
    );
  }
  const spec = task.spec;
  if (!spec) throw invalidArgument('assignment.task.spec is required');
  if (!spec.image) throw invalidArgument('assignment.task.spec.image is required');
  const r = spec.resources;
  if (!r) throw invalidArgument('assignment.task.spec.resources is required');
  // The master fills defaults before placing a task, so a missing limit here
  // is a bug upstream, not something to guess.
  if (r.cpu === undefined) throw invalidArgument('assignment.task.spec.resources.cpu is required');
  if (r.memoryGb === undefined) throw invalidArgument('assignment.task.spec.resources.memory_gb is required');

  const checked = validateTaskSpec({
    image: spec.image,
    command: spec.command,
    env: spec.env,
    resources: { cpu: r.cpu, memoryGb: r.memoryGb, storageGb: r.storageGb ?? 0, gpu: r.gpu ?? 0 },
    taskName: spec.taskName,
    timeoutSeconds: spec.timeoutSeconds,
    network: spec.network,
  });
  if (!checked.ok) throw invalidArgument(`assignment.task.spec.${checked.message}`);
  const s = checked.spec;
  // The master fails the task with this message (no retry): it is what the user reads.
  if (s.network && !policy.allowNetwork) {
    throw failedPrecondition('network access is not enabled on this worker (it runs without WORKER_ALLOW_NETWORK=true)');
  }

  return {
    taskId: a.taskId,
    assignmentId: a.assignmentId,
    image: s.image,
    command: s.command,
    env: s.env,
    cpu: s.resources.cpu,
    memoryGb: s.resources.memoryGb,
    network: s.network,
    timeoutSeconds: s.timeoutSeconds,
    // The master names the task when it is submitted; the spec's name is
    // what the user asked for, the same unless the master had to fill it.
    taskName: task.taskName || s.taskName || a.taskId,
    userId: task.userId,
    submittedAt: task.submittedAt,
  };
}

export interface WorkerServiceOptions extends AssignmentPolicy {
  runner: TaskRunner;
  logger: Logger;
}

/**
 * The master's door to this worker. AssignTask only validates and hands the
 * task to the runner: the execution must not share this call's lifetime
 * (its signal ends when the call returns), so `context` serves only to mark
 * the reply as this worker's.
 */
export function workerService(options: WorkerServiceOptions): WorkerServiceImplementation {
  const log = options.logger.child({ component: 'worker-service' });
  return {
    async assignTask(request, context) {
      // Refusals too: the master must know this worker saw the assignment.
      markAnsweredBy(context, options.workerId);
      const task = validateAssignment(request, options);
      options.runner.assign(task);
      return { accepted: true };
    },
    async cancelTask(request) {
      if (!request.taskId && !request.assignmentId) throw invalidArgument('task_id or assignment_id is required');
      if (request.taskId) idOf(request.taskId, 'task_id');
      if (request.assignmentId) idOf(request.assignmentId, 'assignment_id');
      // Kept, not refused: a refused cancellation would leave the task running.
      const reason = reportedText(request.reason, MAX_CANCEL_REASON_CHARS);
      const found = options.runner.cancel(request.taskId, request.assignmentId, reason);
      log.info({ taskId: request.taskId, assignmentId: request.assignmentId, found }, 'cancel requested');
      return { found };
    },
  };
}
