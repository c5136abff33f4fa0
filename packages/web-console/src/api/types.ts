import type { UserRole } from '@cloudai/domain';
import type { TaskJson } from '@cloudai/rpc/client';

// The JSON shapes of the HTTP API (/api/v1). Tasks, workers and events are
// the CLI's `--json` shapes, made in @cloudai/rpc (only their types come
// into the bundle).

export type { ResourcesJson, TaskJson as Task, WorkerJson as Worker, EventJson as TaskEvent } from '@cloudai/rpc/client';

/** One output file: path, size and sha256. */
export type OutputFile = TaskJson['outputFiles'][number];

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
  /** a running task's log: where following continues this page (see the API) */
  follow?: { afterPosition: number; lines: number; pending: Record<LogStream, string> };
}

export interface GrepResult {
  matches: LogLine[];
  truncated: boolean;
}

export interface TaskList {
  tasks: TaskJson[];
  nextPageToken?: string | null;
}

export interface FileList {
  files: OutputFile[];
  totalBytes: number;
}

export interface OutputRun {
  task: TaskJson;
  files: OutputFile[];
  totalBytes: number;
}

/** The `event: end` of a followed log. */
export interface LogEnd {
  status: string;
  exitCode: number | null;
  reason: string;
  droppedBytes: number;
}
