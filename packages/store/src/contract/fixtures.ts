// Records for the contract suite and the adapters' own tests.
import { newAssignmentId, newTaskId, type ResourceUnits } from '@cloudai/domain';
import { newTaskRecord } from '../new-task-record.js';
import type {
  AssignmentRecord,
  FileMetadataRecord,
  LogChunkRecord,
  TaskRecord,
  WorkerRecord,
} from '../records.js';

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

export function text(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

export function bytesOf(chunks: readonly LogChunkRecord[]): number {
  return chunks.reduce((n, c) => n + c.data.byteLength, 0);
}

/** A chunk whose data and timestamp follow from its position, so rebuilt copies compare equal. */
export function makeChunk(
  taskId: string,
  assignmentId: string,
  attempt: number,
  seq: number,
  overrides: Partial<LogChunkRecord> = {},
): LogChunkRecord {
  return {
    taskId,
    assignmentId,
    attempt,
    seq,
    stream: 'stdout',
    ts: new Date(Date.UTC(2024, 1, 1) + attempt * 3_600_000 + seq * 10),
    data: text(`attempt ${attempt} line ${seq}\n`),
    marker: false,
    ...overrides,
  };
}

export function makeFile(
  taskId: string,
  filePath: string,
  storedAt: number,
  overrides: Partial<FileMetadataRecord> = {},
): FileMetadataRecord {
  return {
    taskId,
    taskName: 'trainer-1704067200',
    userId: 'user-1',
    submittedAt: new Date('2024-01-01T00:00:00.000Z'),
    assignmentId: 'assignment-1',
    fileName: filePath.split('/').pop() as string,
    filePath,
    taskDir: `user-1/trainer-1704067200/2024-01-01T00-00-00.000Z/${taskId}`,
    fileSize: filePath.length,
    sha256: 'f'.repeat(64),
    storedAt: new Date(storedAt),
    ...overrides,
  };
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

let seq = 0;

/** A complete, valid TaskRecord for tests; `overrides` win. Fields not named here get their defaults. */
export function makeTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return newTaskRecord({
    taskId: newTaskId(),
    taskName: 'busybox-1704067200',
    userId: 'user-1',
    image: 'cloudai-test/busybox:1',
    command: ['echo', 'hi'],
    env: { A: '1' },
    resources: { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 },
    timeoutSeconds: 600,
    network: false,
    attempt: 1,
    submittedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, 0, seq++)),
    ...overrides,
  });
}

export function units(cpuMillis: number, memoryMb: number, storageMb: number, gpu: number): ResourceUnits {
  return { cpuMillis, memoryMb, storageMb, gpu };
}

/** A worker registration with all of `capacity` free. */
export function makeWorker(
  workerId: string,
  capacity: ResourceUnits = units(4000, 8192, 10240, 0),
  extra: Partial<Pick<WorkerRecord, 'address' | 'version'>> = {},
): Omit<WorkerRecord, 'state' | 'lastHeartbeat' | 'registeredAt'> {
  return {
    workerId,
    address: extra.address ?? '127.0.0.1:7000',
    capacity,
    free: { ...capacity },
    usage: { cpuPercent: 0, memoryUsedGb: 0, loadAverage1m: 0, runningContainers: 0 },
    version: extra.version ?? '1.0.0',
  };
}

export function makeAssignment(overrides: Partial<AssignmentRecord> = {}): AssignmentRecord {
  return {
    assignmentId: newAssignmentId(),
    taskId: newTaskId(),
    workerId: 'w1',
    attempt: 1,
    createdAt: new Date('2024-07-07T07:07:07.007Z'),
    outcome: null,
    ...overrides,
  };
}
