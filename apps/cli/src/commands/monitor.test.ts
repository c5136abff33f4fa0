import {
  LogStream,
  TaskStatus,
  type Event,
  type FollowEventsRequest,
  type StreamLogsRequest,
  type StreamLogsResponse,
  type SubmitTaskRequest,
  type TaskOutcome,
} from '@cloudai/proto';
import { ServerError, Status, type CallContext } from 'nice-grpc';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from '../testing/fake-master.js';
import { spawn } from 'node:child_process';
import { CLI_PATH, runCli, runCliRaw, cliEnv } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();

const T0 = new Date('2025-01-01T12:00:00.000Z');

function entry(position: number, stream: 'stdout' | 'stderr', data: string | Buffer, marker = false): StreamLogsResponse {
  return {
    entry: {
      position,
      attempt: 0,
      marker,
      chunk: {
        seq: position - 1,
        stream: stream === 'stdout' ? LogStream.LOG_STREAM_STDOUT : LogStream.LOG_STREAM_STDERR,
        ts: new Date(T0.getTime() + position * 1000),
        data: Buffer.isBuffer(data) ? data : Buffer.from(data),
        marker,
      },
    },
  };
}

function outcome(status: TaskStatus, extra: Partial<TaskOutcome> = {}): StreamLogsResponse {
  return {
    outcome: {
      status,
      exitCode: status === TaskStatus.TASK_STATUS_SUCCEEDED ? 0 : 1,
      reason: '',
      logBytes: 1_258_291,
      droppedBytes: 0,
      purged: false,
      ...extra,
    },
  };
}

interface Call {
  /** what this call sends, in order */
  send: StreamLogsResponse[];
  /** how the call ends after sending; without it the call ends OK */
  fail?: ServerError;
}

/**
 * A StreamLogs handler answering each call from the next script. Entries at
 * or before the request's after_position are skipped, as the real master does.
 */
function logsHandler(...calls: Call[]) {
  let n = 0;
  return async function* streamLogs(req: StreamLogsRequest) {
    const call = calls[Math.min(n++, calls.length - 1)]!;
    for (const msg of call.send) {
      if (msg.entry && msg.entry.position <= req.afterPosition) continue;
      yield msg;
    }
    if (call.fail) throw call.fail;
  };
}

/** StreamLogs answers from the scripts (see logsHandler); the master has no events API, as an older one. */
function serveLogs(...calls: Call[]) {
  master.setHandlers({ streamLogs: logsHandler(...calls) });
}

const requests = () => master.callsTo('streamLogs').map((c) => c.request as StreamLogsRequest);
const succeeded = outcome(TaskStatus.TASK_STATUS_SUCCEEDED);

describe('cloudai monitor', () => {
  it('writes stdout and stderr chunks byte for byte, binary and unterminated lines included', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x0a]);
    serveLogs({
      send: [
        entry(1, 'stdout', 'hello\n'),
        entry(2, 'stderr', 'warn: a\n'),
        entry(3, 'stdout', binary),
        entry(4, 'stdout', 'no newline at the end'),
        succeeded,
      ],
    });
    const res = await runCliRaw(['monitor', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout.equals(Buffer.concat([Buffer.from('hello\n'), binary, Buffer.from('no newline at the end')]))).toBe(
      true,
    );
    expect(res.stderr.toString()).toBe('warn: a\n--- task-1 SUCCEEDED exit 0 (1.2 MB of log)\n');
    expect(requests()).toEqual([
      { taskId: 'task-1', afterPosition: 0, follow: true, streams: [], tailLines: 0, since: undefined },
    ]);
  });

  it('prints markers on stderr, each on its own line, and reports dropped bytes in the closing line', async () => {
    serveLogs({
      send: [
        entry(1, 'stderr', 'partial line'),
        entry(2, 'stderr', 'log truncated: 1234 bytes dropped', true),
        entry(3, 'stdout', 'after\n'),
        outcome(TaskStatus.TASK_STATUS_SUCCEEDED, { logBytes: 2048, droppedBytes: 1234 }),
      ],
    });
    const res = await runCli(['logs', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('after\n');
    expect(res.stderr).toBe(
      'partial line\nlog truncated: 1234 bytes dropped\n--- task-1 SUCCEEDED exit 0 (2 KB of log, 1234 bytes dropped)\n',
    );
  });

  it('exits 1 with the status, exit code and reason when the task FAILED', async () => {
    serveLogs({
      send: [
        entry(1, 'stdout', 'working\n'),
        outcome(TaskStatus.TASK_STATUS_FAILED, { exitCode: 3, reason: 'exited with code 3', logBytes: 8 }),
      ],
    });
    const res = await runCli(['monitor', 'task-1'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('working\n');
    expect(res.stderr).toBe('--- task-1 FAILED exit 3 (8 B of log): exited with code 3\n');
  });

  it('says when retention removed the log', async () => {
    serveLogs({ send: [outcome(TaskStatus.TASK_STATUS_SUCCEEDED, { purged: true, logBytes: 0 })] });
    const res = await runCli(['monitor', 'task-old'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('--- task-old: log removed by retention; task ended SUCCEEDED exit 0\n');
  });

  it('sends --no-follow, --stdout, --tail and --since in the request', async () => {
    serveLogs({ send: [entry(7, 'stdout', 'last line\n')] });
    const before = Date.now();
    const res = await runCli(['monitor', 'task-1', '--no-follow', '--stdout', '--tail', '5', '--since', '10m'], env);
    // --no-follow on a running task: the stream ends without an outcome, which is not a failure.
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('last line\n');
    expect(res.stderr).toBe('');
    const [req] = requests();
    expect(req).toMatchObject({ taskId: 'task-1', follow: false, streams: [LogStream.LOG_STREAM_STDOUT], tailLines: 5 });
    const sinceMs = req!.since!.getTime();
    expect(sinceMs).toBeGreaterThanOrEqual(before - 10 * 60_000 - 1000);
    expect(sinceMs).toBeLessThanOrEqual(Date.now() - 10 * 60_000);
  });

  it('accepts an ISO time for --since and --stderr for one stream', async () => {
    serveLogs({ send: [succeeded] });
    const res = await runCli(['monitor', 'task-1', '--stderr', '--since', '2025-01-01T12:30:00Z'], env);
    expect(res.code).toBe(0);
    expect(requests()[0]).toMatchObject({
      streams: [LogStream.LOG_STREAM_STDERR],
      since: new Date('2025-01-01T12:30:00Z'),
    });
  });

  it.each([['yesterday'], ['10'], ['5w'], ['2025-13-45']])('rejects --since %s with exit 2 naming the option', async (value) => {
    const res = await runCli(['monitor', 'task-1', '--since', value], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `error: --since must be a duration like 30s, 10m, 2h, 1d or an ISO time like 2025-01-01T12:00:00Z, got ${JSON.stringify(value)}\n`,
    );
    expect(master.calls).toHaveLength(0);
  });

  it('rejects a --tail that is not a whole number', async () => {
    const res = await runCli(['monitor', 'task-1', '--tail', 'ten'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --tail must be a whole number >= 1, got "ten"\n');
  });

  it('--timestamps puts the chunk time before every line, across chunks, per stream', async () => {
    serveLogs({
      send: [entry(1, 'stdout', 'one\ntw'), entry(2, 'stderr', 'err\n'), entry(3, 'stdout', 'o\nthree\n'), succeeded],
    });
    const res = await runCli(['monitor', 'task-1', '--timestamps'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      '2025-01-01T12:00:01.000Z one\n2025-01-01T12:00:01.000Z two\n2025-01-01T12:00:03.000Z three\n',
    );
    expect(res.stderr).toBe('2025-01-01T12:00:02.000Z err\n--- task-1 SUCCEEDED exit 0 (1.2 MB of log)\n');
  });

  it('reconnects after the master drops the stream and resumes after the last position, without gap or duplicate', async () => {
    const all = [
      entry(1, 'stdout', 'line 1\n'),
      entry(2, 'stderr', 'line 2\n'),
      entry(3, 'stdout', 'line 3\n'),
      entry(4, 'stdout', 'line 4\n'),
      entry(5, 'stdout', 'line 5\n'),
    ];
    serveLogs(
      { send: all.slice(0, 3), fail: new ServerError(Status.UNAVAILABLE, 'master shutting down') },
      // The restarted master is briefly not ready yet.
      { send: [], fail: new ServerError(Status.UNAVAILABLE, 'not ready') },
      { send: [...all, succeeded] },
    );
    const res = await runCli(['monitor', 'task-1', '--tail', '3'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('line 1\nline 3\nline 4\nline 5\n');
    expect(res.stderr).toBe(
      `line 2\nwarning: lost contact with the master at ${master.address}; reconnecting\n` +
        '--- task-1 SUCCEEDED exit 0 (1.2 MB of log)\n',
    );
    const reqs = requests();
    expect(reqs.map((r) => [r.afterPosition, r.tailLines])).toEqual([
      [0, 3],
      [3, 0],
      [3, 0],
    ]);
  });

  it('takes a stream the master cancelled (a forced shutdown) for a lost connection, and resumes', async () => {
    serveLogs(
      { send: [entry(1, 'stdout', 'a\n')], fail: new ServerError(Status.CANCELLED, 'The operation was cancelled') },
      { send: [entry(1, 'stdout', 'a\n'), entry(2, 'stdout', 'b\n'), succeeded] },
    );
    const res = await runCli(['monitor', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('a\nb\n');
    expect(res.stderr).toMatch(/lost contact with the master/);
    expect(requests().map((r) => r.afterPosition)).toEqual([0, 1]);
  });

  it('does not take INTERNAL for a lost connection, whatever its text: one line, exit 1, no reconnect', async () => {
    serveLogs(
      { send: [entry(1, 'stdout', 'a\n')], fail: new ServerError(Status.INTERNAL, 'Received RST_STREAM with code 2') },
      { send: [entry(1, 'stdout', 'a\n'), succeeded] },
    );
    const res = await runCli(['monitor', 'task-1'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('a\n');
    expect(res.stderr).toBe('error: the master failed: Received RST_STREAM with code 2\n');
    expect(requests()).toHaveLength(1);
  });

  it('reconnects when a followed stream ends without an outcome', async () => {
    serveLogs({ send: [entry(1, 'stdout', 'a\n')] }, { send: [entry(1, 'stdout', 'a\n'), entry(2, 'stdout', 'b\n'), succeeded] });
    const res = await runCli(['monitor', 'task-1'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('a\nb\n');
    expect(requests().map((r) => r.afterPosition)).toEqual([0, 1]);
  });

  it('fails at once with exit 3 when the master is unreachable from the start', async () => {
    serveLogs({ send: [], fail: new ServerError(Status.UNAVAILABLE, 'not ready') });
    const res = await runCli(['monitor', 'task-1'], env);
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      `error: cannot reach the master at ${master.address} (is it running? set --master or CLOUDAI_MASTER)\n`,
    );
    expect(requests()).toHaveLength(1);
  });

  it('ends quietly with exit 0 when the reader closes the pipe (| head)', async () => {
    // Far more than a pipe buffer, so the CLI is still writing when the reader goes away.
    const line = `${'x'.repeat(1023)}\n`;
    serveLogs({ send: [...Array.from({ length: 2000 }, (_, i) => entry(i + 1, 'stdout', line)), succeeded] });
    const child = spawn(process.execPath, [CLI_PATH, 'monitor', 'task-1'], {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('NOT_FOUND is one line and exit 1', async () => {
    serveLogs({ send: [], fail: new ServerError(Status.NOT_FOUND, 'task nope not found') });
    const res = await runCli(['monitor', 'nope'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('error: task nope not found\n');
  });
});

/** A task event `seconds` after T0. */
function event(seq: number, seconds: number, kind: string, message: string, reason = ''): Event {
  return {
    seq,
    time: new Date(T0.getTime() + seconds * 1000),
    kind,
    taskId: 'task-1',
    workerId: 'w-2',
    userId: 'alice',
    actor: '',
    attempt: 1,
    message,
    reason,
  };
}

/** Times print in the terminal's zone; the tests fix it. */
const utc = () => ({ ...env, TZ: 'UTC' });

describe("cloudai monitor with the task's events", () => {
  const life = [
    event(1, 0, 'task.queued', 'queued (alpine:3.20)'),
    event(2, 0.5, 'task.scheduled', 'scheduled on w-2 (attempt 1)'),
    event(3, 0.8, 'task.started', 'started on w-2'),
    event(4, 3.5, 'task.uploading', 'uploading 1.2 GB (3 files)'),
    event(5, 4.1, 'task.outputs_stored', 'stored 3 files (1.2 GB) in 0.6 s'),
    event(6, 4.2, 'task.succeeded', 'succeeded (exit 0)'),
  ];

  it("prints a finished task's events on stderr between its log lines, in time; stdout stays byte for byte", async () => {
    master.setHandlers({
      streamLogs: logsHandler({
        send: [entry(1, 'stdout', 'hello\n'), entry(2, 'stderr', 'warn: a\n'), entry(4, 'stdout', 'done'), succeeded],
      }),
      listEvents: async () => ({ events: life, cursor: 6 }),
    });
    const res = await runCliRaw(['monitor', 'task-1'], utc());
    expect(res.code).toBe(0);
    expect(res.stdout.toString()).toBe('hello\ndone');
    expect(res.stderr.toString()).toBe(
      [
        '[cloudai] 12:00:00 queued (alpine:3.20)',
        '[cloudai] 12:00:00 scheduled on w-2 (attempt 1)',
        '[cloudai] 12:00:00 started on w-2',
        'warn: a',
        '[cloudai] 12:00:03 uploading 1.2 GB (3 files)',
        '[cloudai] 12:00:04 stored 3 files (1.2 GB) in 0.6 s',
        '[cloudai] 12:00:04 succeeded (exit 0)',
        '--- task-1 SUCCEEDED exit 0 (1.2 MB of log)',
        '',
      ].join('\n'),
    );
    expect(master.callsTo('listEvents').map((c) => c.request)).toEqual([
      { filter: { taskId: 'task-1', workerId: '', since: undefined }, afterSeq: 0, limit: 1000, latest: false },
    ]);
    // Its last event is stored: nothing more to follow.
    expect(master.callsTo('followEvents')).toEqual([]);
  });

  it("follows a running task's new events from the cursor and waits for its last one before the closing line", async () => {
    let logEnded!: () => void;
    const ended = new Promise<void>((resolve) => (logEnded = resolve));
    master.setHandlers({
      listEvents: async () => ({ events: life.slice(0, 3), cursor: 3 }),
      async *followEvents(_req: FollowEventsRequest, context: CallContext) {
        yield { events: [] };
        await ended;
        // The task's last event is stored a moment after its log ended; a resent one is not printed twice.
        await new Promise((resolve) => setTimeout(resolve, 300));
        yield { events: [life[2]!, event(4, 2, 'task.failed', 'failed (exit 3)', 'exited with code 3')] };
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      },
      async *streamLogs() {
        yield entry(1, 'stderr', 'working\n');
        yield outcome(TaskStatus.TASK_STATUS_FAILED, { exitCode: 3, reason: 'exited with code 3', logBytes: 8 });
        logEnded();
      },
    });
    const res = await runCli(['monitor', 'task-1'], utc());
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      [
        '[cloudai] 12:00:00 queued (alpine:3.20)',
        '[cloudai] 12:00:00 scheduled on w-2 (attempt 1)',
        '[cloudai] 12:00:00 started on w-2',
        'working',
        '[cloudai] 12:00:02 failed (exit 3): exited with code 3',
        '--- task-1 FAILED exit 3 (8 B of log): exited with code 3',
        '',
      ].join('\n'),
    );
    expect(master.callsTo('followEvents').map((c) => (c.request as FollowEventsRequest).afterSeq)).toEqual([3]);
  });

  it('--no-events prints the log alone and never asks for events', async () => {
    master.setHandlers({
      streamLogs: logsHandler({ send: [entry(1, 'stderr', 'warn: a\n'), succeeded] }),
      listEvents: async () => ({ events: life, cursor: 6 }),
    });
    const res = await runCli(['monitor', 'task-1', '--no-events'], utc());
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('warn: a\n--- task-1 SUCCEEDED exit 0 (1.2 MB of log)\n');
    expect(master.callsTo('listEvents')).toEqual([]);
  });
});

describe('cloudai task --follow', () => {
  beforeEach(() => {
    const task = makeTask({ taskId: 'task-f', taskName: 'alpine-1' });
    master.setHandlers({
      submitTask: async () => ({ task }),
      dispatchTask: async (req) => ({ task: { ...task, pinnedWorkerId: req.workerId } }),
      async *streamLogs(req: StreamLogsRequest) {
        if (req.taskId !== 'task-f' || !req.follow) throw new ServerError(Status.INVALID_ARGUMENT, 'unexpected request');
        yield entry(1, 'stdout', 'hi\n');
        yield outcome(TaskStatus.TASK_STATUS_FAILED, { exitCode: 2, logBytes: 3 });
      },
    });
  });

  it('submits, then prints the log and the closing line; exit code as monitor', async () => {
    const res = await runCli(['task', 'alpine:3.20', '--follow', '--', 'sh', '-c', 'echo hi; exit 2'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('hi\n');
    expect(res.stderr).toBe('Task task-f (alpine-1) submitted\n--- task-f FAILED exit 2 (3 B of log)\n');
    expect((master.callsTo('submitTask')[0]!.request as SubmitTaskRequest).spec!.command).toEqual([
      'sh',
      '-c',
      'echo hi; exit 2',
    ]);
  });

  it('works for dispatch too', async () => {
    const res = await runCli(['dispatch', 'worker-1', 'alpine:3.20', '--follow'], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('hi\n');
    expect(master.callsTo('dispatchTask')).toHaveLength(1);
  });

  it('refuses --json with --follow before submitting', async () => {
    const res = await runCli(['task', 'alpine:3.20', '--follow', '--json'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('error: --json cannot be combined with --follow\n');
    expect(master.calls).toHaveLength(0);
  });
});
