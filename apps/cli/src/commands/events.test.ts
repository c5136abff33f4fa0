import { spawn } from 'node:child_process';
import type { Event, FollowEventsRequest, ListEventsRequest } from '@cloudai/proto';
import { ServerError, Status, type CallContext } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@cloudai/testing';
import { CLI_PATH, cliEnv, runCli } from '../testing/run-cli.js';
import { useFakeMaster } from '../testing/use-fake-master.js';

const { master, env } = useFakeMaster();
/** Times print in the terminal's zone; the tests fix it. */
const utc = () => ({ ...env, TZ: 'UTC' });

const T0 = Date.parse('2025-01-01T12:00:00.000Z');
const TASK = '01890a5d-ac96-774b-bcce-b302099a8057';

function event(seq: number, overrides: Partial<Event> = {}): Event {
  return {
    seq,
    time: new Date(T0 + seq * 1000),
    kind: 'task.scheduled',
    taskId: TASK,
    workerId: 'w-2',
    userId: 'alice',
    actor: '',
    attempt: 1,
    message: 'scheduled on w-2 (attempt 1)',
    reason: '',
    ...overrides,
  };
}

const listRequests = () => master.callsTo('listEvents').map((c) => c.request as ListEventsRequest);

describe('cloudai events', () => {
  it('prints the latest events, oldest first: time, kind, what it is about, message and reason', async () => {
    const events = [
      event(1, { kind: 'task.queued', workerId: '', attempt: 0, message: 'queued (alpine:3.20)', actor: 'alice' }),
      event(2),
      event(3, { kind: 'task.retried', message: 'taken back from w-2; queued for another attempt', reason: 'worker w-2 was lost' }),
      event(4, { kind: 'worker.lost', taskId: '', userId: '', message: 'worker w-2 lost', reason: 'no heartbeat for 10 s' }),
      event(5, { kind: 'user.created', taskId: '', workerId: '', userId: 'bob', actor: 'admin', message: 'user bob created (role user)' }),
    ];
    master.setHandlers({ listEvents: async () => ({ events, cursor: 5 }) });
    const res = await runCli(['events'], utc());
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      [
        `2025-01-01 12:00:01  task.queued              ${TASK}  queued (alpine:3.20)`,
        `2025-01-01 12:00:02  task.scheduled           ${TASK}  scheduled on w-2 (attempt 1)`,
        `2025-01-01 12:00:03  task.retried             ${TASK}  taken back from w-2; queued for another attempt: worker w-2 was lost`,
        '2025-01-01 12:00:04  worker.lost              worker w-2                            worker w-2 lost: no heartbeat for 10 s',
        '2025-01-01 12:00:05  user.created             user bob                              user bob created (role user)',
        '',
      ].join('\n'),
    );
    expect(listRequests()).toEqual([
      { filter: { taskId: '', workerId: '', since: undefined }, afterSeq: 0, limit: 100, latest: true },
    ]);
    expect(master.callsTo('followEvents')).toEqual([]);
  });

  it('sends --task, --worker, --since and --limit; --json prints one object per line', async () => {
    master.setHandlers({
      listEvents: async () => ({ events: [event(7, { actor: '', reason: '' }), event(8, { workerId: '', kind: 'task.cancelled', actor: 'admin' })], cursor: 8 }),
    });
    const before = Date.now();
    const res = await runCli(['events', '--task', TASK, '--worker', 'w-2', '--since', '10m', '--limit', '2', '--json'], env);
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        seq: 7,
        time: '2025-01-01T12:00:07.000Z',
        kind: 'task.scheduled',
        taskId: TASK,
        workerId: 'w-2',
        userId: 'alice',
        actor: null,
        attempt: 1,
        message: 'scheduled on w-2 (attempt 1)',
        reason: '',
      },
      expect.objectContaining({ seq: 8, kind: 'task.cancelled', workerId: null, actor: 'admin' }),
    ]);
    const [req] = listRequests();
    expect(req).toMatchObject({ filter: { taskId: TASK, workerId: 'w-2' }, afterSeq: 0, limit: 2, latest: true });
    expect(req!.filter!.since!.getTime()).toBeGreaterThanOrEqual(before - 10 * 60_000 - 1000);
    expect(req!.filter!.since!.getTime()).toBeLessThanOrEqual(Date.now() - 10 * 60_000);
  });

  it('says so when there are no events', async () => {
    master.setHandlers({ listEvents: async () => ({ events: [], cursor: 0 }) });
    const res = await runCli(['events'], env);
    expect(res).toMatchObject({ code: 0, stdout: 'No events.\n' });
  });

  it.each([
    [['--limit', '0'], 'error: --limit must be a whole number >= 1, got "0"'],
    [['--limit', '1001'], 'error: --limit must be <= 1000, got "1001"'],
    [['--since', 'soon'], 'error: --since must be a duration like 30s, 10m, 2h, 1d or an ISO time like 2025-01-01T12:00:00Z, got "soon"'],
    [['--task', 'a b'], 'error: --task must be printable characters without spaces'],
  ])('refuses %j with exit 2 before calling the master', async (args, message) => {
    const res = await runCli(['events', ...args], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`${message}\n`);
    expect(master.calls).toHaveLength(0);
  });

  it.each([
    ['NOT_FOUND', Status.NOT_FOUND, `task ${TASK} not found`, `error: task ${TASK} not found`],
    ['PERMISSION_DENIED', Status.PERMISSION_DENIED, 'not allowed', 'error: permission denied: not allowed'],
  ])('a refusal (%s) is one line and exit 1', async (_name, code, details, line) => {
    master.setHandlers({
      listEvents: async () => {
        throw new ServerError(code, details);
      },
    });
    const res = await runCli(['events', '--task', TASK], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`${line}\n`);
  });

  it('--follow prints what is stored, then new events, and rides out a master restart from its last seq', async () => {
    let calls = 0;
    master.setHandlers({
      listEvents: async () => ({ events: [event(1), event(2)], cursor: 4 }),
      async *followEvents(req: FollowEventsRequest, context: CallContext) {
        calls++;
        if (calls === 1) {
          yield { events: [] };
          yield { events: [event(5)] };
          throw new ServerError(Status.UNAVAILABLE, 'master shutting down');
        }
        if (calls === 2) throw new ServerError(Status.UNAVAILABLE, 'not ready yet');
        // The restarted master resends from the cursor the CLI gives; a resent event must not print twice.
        yield { events: [event(5), event(6)].filter((e) => e.seq > req.afterSeq - 1) };
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      },
    });
    const child = spawn(process.execPath, [CLI_PATH, 'events', '--follow', '--json'], {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => (stdout.includes('"seq":6') ? true : undefined), { what: 'event 6', timeoutMs: 20_000 });
    } finally {
      child.kill('SIGINT');
      await closed;
    }
    const seqs = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual([1, 2, 5, 6]);
    expect(stderr).toBe(`warning: lost contact with the master at ${master.address}; reconnecting\n`);
    expect(master.callsTo('followEvents').map((c) => (c.request as FollowEventsRequest).afterSeq)).toEqual([4, 5, 5]);
  });
});
