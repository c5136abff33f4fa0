import { newAssignmentId, newTaskId } from '@cloudai/domain';
import { ClusterServiceDefinition, ReportTaskStatusRequest, TaskProgress } from '@cloudai/proto';
import { connect, Status } from '@cloudai/rpc';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reporter } from './reporter.js';
import { FakeMaster, RUNNING } from './testing/fake-master.js';

let master: FakeMaster;
let rpc: ReturnType<typeof connect<typeof ClusterServiceDefinition>>;

beforeAll(async () => {
  master = await FakeMaster.start();
  rpc = connect(ClusterServiceDefinition, master.address);
});

afterAll(async () => {
  rpc?.close();
  await master?.stop();
});

interface LogLine {
  level: number;
  msg: string;
  err?: { type: string; message: string; stack: string; code: Status; details: string };
}

/** A Reporter whose log lines are kept, parsed, as pino writes them. */
function reporter() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { lines, reporter: new Reporter(rpc.client, logger, { initialDelayMs: 1, maxDelayMs: 1 }) };
}

function report() {
  const taskId = newTaskId();
  const assignmentId = newAssignmentId();
  return { taskId, assignmentId, request: ReportTaskStatusRequest.fromPartial({ taskId, assignmentId, status: RUNNING }) };
}

/** What pino's error serializer keeps of a ClientError: its type, code, details and stack. */
function serialized(code: Status) {
  return expect.objectContaining({
    type: 'ClientError',
    code,
    details: expect.any(String),
    stack: expect.stringContaining('ClientError'),
  });
}

describe('reporter', () => {
  it('resends a report the master cut off (CANCELLED, UNAVAILABLE), logging each error whole', async () => {
    const { reporter: r, lines } = reporter();
    const { taskId, request } = report();
    master.failReports.push(Status.CANCELLED, Status.UNAVAILABLE);
    expect(await r.reportStatus(request, AbortSignal.timeout(30_000))).toBe('accepted');
    expect(master.statuses(taskId)).toHaveLength(1);
    const retries = lines.filter((l) => l.msg === 'master unavailable; retrying the report');
    expect(retries.map((l) => l.err)).toEqual([serialized(Status.CANCELLED), serialized(Status.UNAVAILABLE)]);
  });

  it('drops a report of an assignment the master calls stale, logging the error whole', async () => {
    const { reporter: r, lines } = reporter();
    const { taskId, assignmentId, request } = report();
    master.staleAssignments.add(assignmentId);
    expect(await r.reportStatus(request, AbortSignal.timeout(30_000))).toBe('stale');
    expect(master.statuses(taskId)).toHaveLength(0);
    const stale = lines.filter((l) => l.msg === 'master says the assignment is stale; dropping it');
    expect(stale.map((l) => l.err)).toEqual([serialized(Status.FAILED_PRECONDITION)]);
  });

  it('gives up at once on a refusal that resending cannot fix, logging the error whole', async () => {
    const { reporter: r, lines } = reporter();
    const { request } = report();
    master.failReports.push(Status.INVALID_ARGUMENT, Status.UNAVAILABLE);
    try {
      expect(await r.reportStatus(request, AbortSignal.timeout(30_000))).toBe('rejected');
      // Not resent: the next scripted failure is still waiting.
      expect(master.failReports).toEqual([Status.UNAVAILABLE]);
    } finally {
      master.failReports.length = 0;
    }
    const rejected = lines.filter((l) => l.msg === 'master rejected the report');
    expect(rejected.map((l) => l.err)).toEqual([serialized(Status.INVALID_ARGUMENT)]);
  });

  it('sends a progress report once and never throws: one the master refuses is logged and dropped', async () => {
    const { reporter: r, lines } = reporter();
    const { taskId, assignmentId } = report();
    const progress = { taskId, assignmentId, progress: TaskProgress.TASK_PROGRESS_PULLING_IMAGE, bytes: 0, files: 0, durationMs: 0 };
    await r.reportProgress(progress, AbortSignal.timeout(30_000));
    expect(master.progressOf(taskId)).toEqual([progress]);
    master.staleAssignments.add(assignmentId);
    await r.reportProgress(progress, AbortSignal.timeout(30_000));
    expect(master.progressOf(taskId)).toHaveLength(1);
    const dropped = lines.filter((l) => l.msg === 'progress report not delivered');
    expect(dropped.map((l) => l.err)).toEqual([serialized(Status.FAILED_PRECONDITION)]);
  });
});
