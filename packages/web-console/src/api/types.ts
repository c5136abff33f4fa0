import type { TaskStatus, UserRole, WorkerState } from '@cloudai/domain';

// The JSON shapes of the HTTP API (/api/v1), which are the CLI's `--json`
// shapes: plain status names, ISO-8601 times, null for "not set".

export interface ResourcesJson {
  cpu: number | null;
  memoryGb: number | null;
  storageGb: number | null;
  gpu: number | null;
}

export interface OutputFile {
  path: string;
  size: number;
  sha256: string;
}

export interface Task {
  taskId: string;
  taskName: string;
  userId: string;
  image: string;
  command: string[];
  status: TaskStatus | 'UNKNOWN';
  reason: string;
  exitCode: number | null;
  workerId: string | null;
  pinnedWorkerId: string | null;
  attempt: number;
  resources: ResourcesJson;
  timeoutSeconds: number;
  network: boolean;
  submittedAt: string | null;
  scheduledAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  outputFiles: OutputFile[];
  outputBytes: number;
  logBytes: number;
}

export interface Worker {
  workerId: string;
  state: WorkerState | 'UNKNOWN';
  address: string;
  capacity: ResourcesJson;
  allocated: ResourcesJson;
  usage: { cpuPercent: number; memoryUsedGb: number; loadAverage1m: number; runningContainers: number } | null;
  lastHeartbeat: string | null;
  registeredAt: string | null;
  taskIds: string[];
}

export interface Session {
  user: string;
  role: UserRole | 'UNKNOWN';
  csrfToken: string;
}

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  /** 1-based */
  line: number;
  stream: LogStream;
  text: string;
}

export interface LogLinesPage {
  lines: LogLine[];
  totalLines: number;
  complete: boolean;
}

export interface GrepResult {
  matches: LogLine[];
  truncated: boolean;
}

export interface TaskList {
  tasks: Task[];
  nextPageToken?: string | null;
}

export interface FileList {
  files: OutputFile[];
  totalBytes: number;
}

export interface OutputRun {
  task: Task;
  files: OutputFile[];
  totalBytes: number;
}

/** One event of GET /events (the `cloudai events --json` shape). */
export interface TaskEvent {
  seq: number;
  time: string | null;
  kind: string;
  taskId: string | null;
  workerId: string | null;
  userId: string | null;
  message: string;
  reason: string;
}

/** The `event: end` of a followed log. */
export interface LogEnd {
  status: string;
  exitCode: number | null;
  reason: string;
  droppedBytes: number;
}
