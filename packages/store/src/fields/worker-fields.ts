import type { ResourceUnits, WorkerState } from '@cloudai/domain';
import { date, int, object, real, text, textOf } from './codecs.js';
import { field, type FieldsOf } from './field.js';

/** Exact integer units: columns <field>_cpu_millis, … in SQLite, a nested object in MongoDB. */
export const UNIT_FIELDS = {
  cpuMillis: field('cpu_millis', int),
  memoryMb: field('memory_mb', int),
  storageMb: field('storage_mb', int),
  gpu: field('gpu', int),
} satisfies FieldsOf<ResourceUnits>;

export const USAGE_FIELDS = {
  cpuPercent: field('cpu_percent', real),
  memoryUsedGb: field('memory_used_gb', real),
  loadAverage1m: field('load_average_1m', real),
  runningContainers: field('running_containers', int),
};

/** WORKERS. Adding a field: as for TASK_FIELDS. */
export const WORKER_FIELDS = {
  workerId: field('worker_id', text),
  address: field('address', text, { default: '' }),
  state: field('state', textOf<WorkerState>()),
  version: field('version', text, { default: '' }),
  capacity: field('capacity', object(UNIT_FIELDS)),
  /** capacity minus what placed tasks hold; reserved and released atomically */
  free: field('free', object(UNIT_FIELDS)),
  usage: field('usage', object(USAGE_FIELDS)),
  lastHeartbeat: field('last_heartbeat', date),
  registeredAt: field('registered_at', date),
};
