import type { LogStreamName, Resources, TaskStatus, WorkerState } from '@cloudai/domain';
import {
  LogStream as ProtoLogStream,
  TaskStatus as ProtoTaskStatus,
  WorkerState as ProtoWorkerState,
  type Resources as ProtoResources,
} from '@cloudai/proto';
import { invalidArgument } from './errors.js';

// The wire uses proto enums; everything inside a process uses the domain's
// string unions. These are the only places the two meet.

const TO_PROTO_STATUS: Record<TaskStatus, ProtoTaskStatus> = {
  QUEUED: ProtoTaskStatus.TASK_STATUS_QUEUED,
  SCHEDULED: ProtoTaskStatus.TASK_STATUS_SCHEDULED,
  RUNNING: ProtoTaskStatus.TASK_STATUS_RUNNING,
  UPLOADING: ProtoTaskStatus.TASK_STATUS_UPLOADING,
  SUCCEEDED: ProtoTaskStatus.TASK_STATUS_SUCCEEDED,
  FAILED: ProtoTaskStatus.TASK_STATUS_FAILED,
  CANCELLED: ProtoTaskStatus.TASK_STATUS_CANCELLED,
  TIMED_OUT: ProtoTaskStatus.TASK_STATUS_TIMED_OUT,
};

export function statusToProto(status: TaskStatus): ProtoTaskStatus {
  return TO_PROTO_STATUS[status];
}

/** undefined for UNSPECIFIED/unknown values: callers reject those, naming the field. */
export function statusFromProto(status: ProtoTaskStatus): TaskStatus | undefined {
  for (const [k, v] of Object.entries(TO_PROTO_STATUS)) if (v === status) return k as TaskStatus;
  return undefined;
}

const TO_PROTO_WORKER_STATE: Record<WorkerState, ProtoWorkerState> = {
  ALIVE: ProtoWorkerState.WORKER_STATE_ALIVE,
  DRAINING: ProtoWorkerState.WORKER_STATE_DRAINING,
  LOST: ProtoWorkerState.WORKER_STATE_LOST,
};

export function workerStateToProto(state: WorkerState): ProtoWorkerState {
  return TO_PROTO_WORKER_STATE[state];
}

export function workerStateFromProto(state: ProtoWorkerState): WorkerState | undefined {
  for (const [k, v] of Object.entries(TO_PROTO_WORKER_STATE)) if (v === state) return k as WorkerState;
  return undefined;
}


export function logStreamToProto(stream: LogStreamName): ProtoLogStream {
  return stream === 'stdout' ? ProtoLogStream.LOG_STREAM_STDOUT : ProtoLogStream.LOG_STREAM_STDERR;
}

export function logStreamFromProto(stream: ProtoLogStream): LogStreamName | undefined {
  if (stream === ProtoLogStream.LOG_STREAM_STDOUT) return 'stdout';
  if (stream === ProtoLogStream.LOG_STREAM_STDERR) return 'stderr';
  return undefined;
}

export function resourcesToProto(r: Resources): ProtoResources {
  return { cpu: r.cpu, memoryGb: r.memoryGb, storageGb: r.storageGb, gpu: r.gpu };
}

/** Missing fields stay missing (undefined) so defaults can be applied by the caller. */
export function resourcesFromProto(r: ProtoResources | undefined): Partial<Resources> {
  const out: Partial<Resources> = {};
  if (r?.cpu !== undefined) out.cpu = r.cpu;
  if (r?.memoryGb !== undefined) out.memoryGb = r.memoryGb;
  if (r?.storageGb !== undefined) out.storageGb = r.storageGb;
  if (r?.gpu !== undefined) out.gpu = r.gpu;
  return out;
}

/** The range of times a protobuf Timestamp holds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. */
const EARLIEST_TIME_MS = -62_135_596_800_000;
const LATEST_TIME_MS = 253_402_300_799_999;

/**
 * A Timestamp field as decoded, refused naming `field` when it is outside
 * the range a Timestamp holds: such a value (or an Invalid Date, for seconds
 * no Date holds) would otherwise reach queries and records.
 */
export function timeFromProto(value: Date | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = value.getTime();
  if (!(ms >= EARLIEST_TIME_MS && ms <= LATEST_TIME_MS)) throw invalidArgument(`${field} must be a time from year 1 to 9999`);
  return value;
}
