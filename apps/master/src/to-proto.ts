import { fromUnits, subtractUnits } from '@cloudai/domain';
import type { Assignment, Task, Worker } from '@cloudai/proto';
import { resourcesToProto, statusToProto, workerStateToProto } from '@cloudai/rpc';
import type { TaskRecord, WorkerRecord } from '@cloudai/store';

export function taskToProto(t: TaskRecord): Task {
  return {
    taskId: t.taskId,
    taskName: t.taskName,
    userId: t.userId,
    spec: {
      image: t.image,
      command: t.command,
      env: t.env,
      resources: resourcesToProto(t.resources),
      taskName: t.taskName,
      timeoutSeconds: t.timeoutSeconds,
      network: t.network,
    },
    status: statusToProto(t.status),
    reason: t.reason,
    attempt: t.attempt,
    assignmentId: t.assignmentId ?? '',
    workerId: t.workerId ?? '',
    pinnedWorkerId: t.pinnedWorkerId ?? '',
    exitCode: t.exitCode ?? undefined,
    submittedAt: t.submittedAt,
    scheduledAt: t.scheduledAt ?? undefined,
    startedAt: t.startedAt ?? undefined,
    finishedAt: t.finishedAt ?? undefined,
    uploadingAt: t.uploadingAt ?? undefined,
    outputFiles: t.outputFiles,
    outputBytes: t.outputBytes,
    logBytes: t.logBytes,
  };
}

export function taskToAssignment(t: TaskRecord): Assignment {
  return {
    assignmentId: t.assignmentId ?? '',
    taskId: t.taskId,
    workerId: t.workerId ?? '',
    attempt: t.attempt,
    task: taskToProto(t),
  };
}

export function workerToProto(w: WorkerRecord, taskIds: string[]): Worker {
  return {
    workerId: w.workerId,
    address: w.address,
    state: workerStateToProto(w.state),
    capacity: resourcesToProto(fromUnits(w.capacity)),
    allocated: resourcesToProto(fromUnits(subtractUnits(w.capacity, w.free))),
    usage: w.usage,
    lastHeartbeat: w.lastHeartbeat,
    registeredAt: w.registeredAt,
    taskIds,
  };
}
