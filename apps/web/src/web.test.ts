import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  requireDocker,
  scrapeMetrics,
  startApp,
  startCluster,
  stopApp,
  tempDir,
  TEST_IMAGE,
  waitFor,
  type AppProcess,
  type LocalCluster,
  type TempDir,
} from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEvents, type SseEvent } from './testing/sse.js';

// The HTTP API as curl and the console meet it: plain fetch against the web
// process, in front of a cluster of real processes and real Docker.

const run = promisify(execFile);

let cluster: LocalCluster;
let web: AppProcess;
let base: string;
let scratch: TempDir;
/** a task that wrote files and log lines, finished */
let done: { taskId: string; taskName: string };
let otherToken: string;

const TICKS = 'for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done';
const SCRIPT =
  'echo line-one; echo err-one >&2; echo needle here; ' +
  `${TICKS}; ` +
  'printf \'{"a":1}\' > /output/out.json; ' +
  "printf '<html><script>alert(1)</script></html>' > /output/index.html; " +
  'mkdir -p /output/sub && seq 1 2000 > /output/sub/numbers.txt; echo last-line';

function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? cluster.userToken : init.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return fetch(`${base}/api/v1${path}`, { ...init, headers });
}

async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

async function submit(body: Record<string, unknown>, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  return api('/tasks', { ...init, method: 'POST', headers: { 'content-type': 'application/json', ...init.headers }, body: JSON.stringify(body) });
}

async function waitForStatus(taskId: string, statuses: string[]): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const { task } = await json<{ task: Record<string, unknown> }>(await api(`/tasks/${taskId}`), 200);
      return statuses.includes(String(task.status)) ? task : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `task ${taskId} in ${statuses.join('/')}` },
  );
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  await requireDocker();
  scratch = await tempDir('cloudai-web-');
  cluster = await startCluster({ workers: 1 });
  web = await startApp('web', 'web', { CLOUDAI_MASTER: cluster.masterAddr, WEB_LISTEN_ADDR: '127.0.0.1:0' });
  base = `http://${String((web as unknown as { readyLine: Record<string, unknown> }).readyLine.address)}`;
  const res = await submit({ image: TEST_IMAGE, command: ['sh', '-c', SCRIPT], name: 'web-outputs' });
  const { task } = await json<{ task: { taskId: string; taskName: string } }>(res, 201);
  done = task;
  const added = await cluster.cli(['users', 'add', 'other', '--json'], { CLOUDAI_TOKEN: cluster.adminToken });
  otherToken = (JSON.parse(added.stdout) as { token: string }).token;
  const finished = await waitForStatus(done.taskId, ['SUCCEEDED', 'FAILED']);
  expect(finished.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  if (web) await stopApp(web);
  await cluster?.stop();
  await scratch?.remove();
});

describe('auth', () => {
  it('answers 401 without a token, and with a token the master does not know', async () => {
    const none = await json(await api('/tasks', { token: null }), 401);
    expect(none.code).toBe('unauthenticated');
    const bad = await json(await api('/tasks', { token: 'cai_not-a-real-token' }), 401);
    expect(bad.code).toBe('unauthenticated');
  });

  it("answers 404 for another user's task, exactly as for a missing one", async () => {
    const theirs = await json(await api(`/tasks/${done.taskId}`, { token: otherToken }), 404);
    expect(theirs.code).toBe('not_found');
    for (const path of ['/logs', '/files', '/files.zip', '/files/out.json', '/log-lines']) {
      expect((await api(`/tasks/${done.taskId}${path}`, { token: otherToken })).status, path).toBe(404);
    }
    const admin = await json<{ task: { taskId: string } }>(await api(`/tasks/${done.taskId}`, { token: cluster.adminToken }), 200);
    expect(admin.task.taskId).toBe(done.taskId);
  });

  it('signs a browser in with a cookie session, and refuses its state changes without the CSRF token', async () => {
    const signIn = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: cluster.userToken }),
    });
    const session = await json<{ user: string; role: string; csrfToken: string }>(signIn, 200);
    expect(session).toMatchObject({ user: 'e2e', role: 'user' });
    const setCookie = signIn.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^cloudai_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\//);
    expect(setCookie).not.toContain('Secure'); // plain HTTP here
    const cookie = setCookie.split(';')[0]!;
    const asBrowser = (path: string, init: RequestInit = {}) =>
      api(path, { ...init, token: null, headers: { cookie, ...init.headers } });
    expect(await json(await asBrowser('/session'), 200)).toEqual(session);
    expect((await json<{ tasks: unknown[] }>(await asBrowser('/tasks'), 200)).tasks.length).toBeGreaterThan(0);

    const refused = await json(await asBrowser(`/tasks/${done.taskId}/cancel`, { method: 'POST' }), 403);
    expect(refused.code).toBe('csrf');
    const wrong = await asBrowser(`/tasks/${done.taskId}/cancel`, { method: 'POST', headers: { 'x-csrf-token': 'x'.repeat(43) } });
    expect(wrong.status).toBe(403);
    // With the header the request reaches the master, which refuses to cancel a finished task.
    const passed = await json(await asBrowser(`/tasks/${done.taskId}/cancel`, { method: 'POST', headers: { 'x-csrf-token': session.csrfToken } }), 409);
    expect(passed.code).toBe('conflict');

    expect((await asBrowser('/session', { method: 'DELETE', headers: { 'x-csrf-token': session.csrfToken } })).status).toBe(204);
    expect((await asBrowser('/tasks')).status).toBe(401);
  });

  it('refuses a sign-in with a bad token', async () => {
    const res = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'cai_nope' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('tasks', () => {
  it('lists, filters and gets tasks in the `cloudai status --json` shape', async () => {
    const { tasks } = await json<{ tasks: Record<string, unknown>[] }>(await api('/tasks?status=succeeded,FAILED&name=web-outputs&since=1h'), 200);
    expect(tasks.map((t) => t.taskId)).toContain(done.taskId);
    const status = await cluster.cli(['status', done.taskId, '--json']);
    const { task } = await json<{ task: Record<string, unknown> }>(await api(`/tasks/${done.taskId}`), 200);
    expect(task).toEqual(JSON.parse(status.stdout));
    const none = await json<{ tasks: unknown[] }>(await api('/tasks?status=QUEUED&name=web-outputs'), 200);
    expect(none.tasks).toEqual([]);
    // Sorted on the master, and paged under that sort; a token of another sort is refused.
    for (const name of ['sort-b', 'sort-a']) await json(await submit({ image: TEST_IMAGE, command: ['true'], name }), 201);
    const byName = await json<{ tasks: { taskName: string }[]; nextPageToken: string | null }>(await api('/tasks?sort=task_name&limit=1'), 200);
    const names = [byName.tasks[0]!.taskName];
    let token = byName.nextPageToken;
    while (token) {
      const next = await json<{ tasks: { taskName: string }[]; nextPageToken: string | null }>(
        await api(`/tasks?sort=task_name&limit=1&page_token=${encodeURIComponent(token)}`),
        200,
      );
      names.push(...next.tasks.map((t) => t.taskName));
      token = next.nextPageToken;
    }
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(names).toEqual([...names].sort());
    const wrong = await api(`/tasks?sort=-task_name&page_token=${encodeURIComponent(byName.nextPageToken!)}`);
    expect(await json(wrong, 400)).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^page_token was made for another sort order/) });
  });

  it('names the field of a bad query or body, with the rules SubmitTask has', async () => {
    expect(await json(await api('/tasks?status=DONE'), 400)).toMatchObject({ code: 'invalid_argument', field: 'status' });
    expect(await json(await api('/tasks?limit=0'), 400)).toMatchObject({ field: 'limit' });
    expect(await json(await api('/tasks?sort=user_id'), 400)).toMatchObject({ field: 'sort', message: expect.stringMatching(/^sort must be one of/) });
    expect(await json(await api('/tasks?colour=red'), 400)).toMatchObject({ field: 'colour' });
    expect(await json(await submit({ image: TEST_IMAGE, cpu: -1 }), 400)).toMatchObject({ field: 'cpu', message: expect.stringContaining('resources.cpu') });
    expect(await json(await submit({ image: 'Not An Image' }), 400)).toMatchObject({ field: 'image' });
    expect(await json(await submit({ image: TEST_IMAGE, env: { '1BAD': 'x' } }), 400)).toMatchObject({ field: 'env.1BAD' });
    expect(await json(await submit({}), 400)).toMatchObject({ field: 'image' });
    const notJson = await api('/tasks', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expect(notJson.status).toBe(415);
  });

  it('cancels a running task', async () => {
    const { task } = await json<{ task: { taskId: string } }>(await submit({ image: TEST_IMAGE, command: ['sleep', '60'] }), 201);
    await waitForStatus(task.taskId, ['RUNNING']);
    const running = await json(await api(`/tasks/${task.taskId}/files`, { method: 'DELETE' }), 409);
    expect(running.code).toBe('conflict');
    const cancelled = await json<{ task: { status: string } }>(await api(`/tasks/${task.taskId}/cancel`, { method: 'POST' }), 200);
    expect(['CANCELLED', 'RUNNING']).toContain(cancelled.task.status);
    await waitForStatus(task.taskId, ['CANCELLED']);
  });

  it('lists the workers in the `cloudai workers --json` shape', async () => {
    const { workers } = await json<{ workers: Record<string, unknown>[] }>(await api('/workers'), 200);
    const cli = JSON.parse((await cluster.cli(['workers', '--json'])).stdout) as Record<string, unknown>[];
    expect(workers.map((w) => w.workerId)).toEqual(cli.map((w) => w.workerId));
    expect(workers[0]).toMatchObject({ state: 'ALIVE', capacity: expect.any(Object) });
  });
});

describe('logs', () => {
  it('serves the log as text/plain, byte for byte, per stream and tailed', async () => {
    const out = await api(`/tasks/${done.taskId}/logs?stream=stdout`);
    expect(out.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const ticks = [1, 2, 3, 4, 5].map((i) => `tick-${i}\n`).join('');
    expect(await out.text()).toBe(`line-one\nneedle here\n${ticks}last-line\n`);
    expect(await (await api(`/tasks/${done.taskId}/logs?stream=stderr`)).text()).toBe('err-one\n');
    expect(await (await api(`/tasks/${done.taskId}/logs?stream=stdout&tail=2`)).text()).toBe('tick-5\nlast-line\n');
  });

  it('follows the log as server-sent events that resume after Last-Event-ID with no gap and no repeat', async () => {
    const all = await readEvents(await api(`/tasks/${done.taskId}/logs?follow=true&stream=stdout`), (e) => e.at(-1)?.event === 'end');
    const logs = all.filter((e) => e.event === 'log');
    expect(logs.length).toBeGreaterThan(2);
    const text = (events: SseEvent[]) => events.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as { text: string }).text).join('');
    expect(text(all)).toContain('tick-1\ntick-2\ntick-3\ntick-4\ntick-5\n');
    expect(JSON.parse(all.at(-1)!.data)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, droppedBytes: 0 });
    const resumed = await readEvents(
      await api(`/tasks/${done.taskId}/logs?follow=true&stream=stdout`, { headers: { 'last-event-id': logs[1]!.id! } }),
      (e) => e.at(-1)?.event === 'end',
    );
    expect(resumed.map((e) => e.id)).toEqual(all.slice(2).map((e) => e.id));
    expect(text(resumed)).toBe(text(logs.slice(2)));
  });

  it('greps the whole log on the server, with line numbers', async () => {
    const hits = await json<{ matches: { line: number; stream: string; text: string }[]; truncated: boolean }>(
      await api(`/tasks/${done.taskId}/logs?grep=${encodeURIComponent('tick-')}&limit=3`),
      200,
    );
    expect(hits.truncated).toBe(true);
    expect(hits.matches.map((m) => m.text)).toEqual(['tick-1', 'tick-2', 'tick-3']);
    const lines = await json<{ lines: { line: number; text: string }[] }>(await api(`/tasks/${done.taskId}/log-lines?start=1&count=100`), 200);
    for (const m of hits.matches) expect(lines.lines.find((l) => l.line === m.line)?.text).toBe(m.text);
    const needle = await json<{ matches: { stream: string; text: string }[] }>(await api(`/tasks/${done.taskId}/logs?grep=NEEDLE&ignore_case=true`), 200);
    expect(needle.matches).toEqual([expect.objectContaining({ stream: 'stdout', text: 'needle here' })]);
  });

  it('pages numbered lines, from the start or from the end', async () => {
    const all = await json<{ lines: { line: number; stream: string; text: string }[]; totalLines: number; complete: boolean }>(
      await api(`/tasks/${done.taskId}/log-lines?start=1&count=5000`),
      200,
    );
    expect(all.complete).toBe(true);
    expect(all.totalLines).toBe(9);
    expect(all.lines.map((l) => l.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all.lines.find((l) => l.text === 'err-one')?.stream).toBe('stderr');
    const tail = await json<{ lines: { text: string }[] }>(await api(`/tasks/${done.taskId}/log-lines?start=-2&count=2`), 200);
    expect(tail.lines.map((l) => l.text)).toEqual(all.lines.slice(-2).map((l) => l.text));
    const middle = await json<{ lines: { line: number }[] }>(await api(`/tasks/${done.taskId}/log-lines?start=4&count=2`), 200);
    expect(middle.lines.map((l) => l.line)).toEqual([4, 5]);
  });
});

describe('a long finished log', () => {
  it('pages lines anywhere in it, through the line index, as a scan from the start numbers them', async () => {
    const { task } = await json<{ task: { taskId: string } }>(await submit({ image: TEST_IMAGE, command: ['seq', '1', '12345'] }), 201);
    await waitForStatus(task.taskId, ['SUCCEEDED']);
    type Page = { lines: { line: number; text: string }[]; totalLines: number; complete: boolean };
    // The first read builds the index (a checkpoint every 2,000 lines); the later ones start from a checkpoint.
    for (const [start, count] of [[-3, 3], [4001, 2], [3999, 3], [1, 1], [12345, 5], [9000, 1000]] as const) {
      const page = await json<Page>(await api(`/tasks/${task.taskId}/log-lines?start=${start}&count=${count}`), 200);
      const first = start < 0 ? 12345 + start + 1 : start;
      const expected = Array.from({ length: Math.min(count, 12345 - first + 1) }, (_, i) => first + i);
      expect({ start, page }).toEqual({
        start,
        page: { lines: expected.map((n) => ({ line: n, stream: 'stdout', text: String(n) })), totalLines: 12345, complete: true },
      });
    }
  });
});

describe('a big finished log', () => {
  it("is counted once, ahead of its first page, when its finished task is read: the pages then read the master's index", async () => {
    const master = cluster.apps.get('master')!.metricsAddr!;
    const counted = async () =>
      (await scrapeMetrics(master)).value('cloudai_grpc_server_handled_total', { method: 'GetLogLineIndex', code: 'OK' }) ?? 0;
    const before = await counted();
    // About 2.3 MB of lines: over the size a read of the task counts ahead.
    const { task } = await json<{ task: { taskId: string } }>(await submit({ image: TEST_IMAGE, command: ['seq', '1', '350000'] }), 201);
    // Waiting reads the task until it has ended: the read that sees it ended starts the count.
    await waitForStatus(task.taskId, ['SUCCEEDED']);
    await waitFor(async () => ((await counted()) === before + 1 ? true : undefined), { what: 'the count ahead' });
    await json(await api(`/tasks/${task.taskId}`), 200);
    const tail = await json<{ lines: { line: number; text: string }[]; totalLines: number }>(
      await api(`/tasks/${task.taskId}/log-lines?start=-2&count=2`),
      200,
    );
    expect(tail).toMatchObject({ totalLines: 350000, lines: [{ line: 349999, text: '349999' }, { line: 350000, text: '350000' }] });
    const middle = await json<{ lines: { line: number }[] }>(await api(`/tasks/${task.taskId}/log-lines?start=200001&count=3`), 200);
    expect(middle.lines.map((l) => l.line)).toEqual([200001, 200002, 200003]);
    // The same count served the reads of the task and every page.
    expect(await counted()).toBe(before + 1);
  });
});

describe('a running task\'s log', () => {
  it('opens at the tail and is followed from where that page ended, with no line lost or repeated', async () => {
    const script = 'for i in $(seq 1 6); do echo row-$i; done; printf unfinished-; sleep 3; echo end; for i in 1 2; do echo after-$i; done';
    const { task } = await json<{ task: { taskId: string } }>(await submit({ image: TEST_IMAGE, command: ['sh', '-c', script] }), 201);
    type Page = { lines: { line: number; text: string }[]; follow?: { afterPosition: number; lines: number; pending: { stdout: string } } };
    const page = await waitFor(
      async () => {
        const got = await json<Page>(await api(`/tasks/${task.taskId}/log-lines?start=-3&count=3`), 200);
        return got.follow?.pending.stdout === 'unfinished-' ? got : undefined;
      },
      { what: 'the unfinished line to be stored' },
    );
    expect(page.follow!.lines).toBe(6);
    expect(page.lines.filter((l) => l.line <= 6).map((l) => l.text)).toEqual(['row-5', 'row-6']);
    const rest = await readEvents(
      await api(`/tasks/${task.taskId}/logs?follow=true&last_event_id=${page.follow!.afterPosition}`),
      (e) => e.at(-1)?.event === 'end',
    );
    const text = rest.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as { text: string }).text).join('');
    expect(page.follow!.pending.stdout + text).toBe('unfinished-end\nafter-1\nafter-2\n');
  });
});

describe('files', () => {
  const files = async () =>
    (await json<{ files: { path: string; size: number; sha256: string }[]; totalBytes: number }>(await api(`/tasks/${done.taskId}/files`), 200)).files;

  it('lists the files with sizes and sha256, and every run of a task name', async () => {
    const listed = await files();
    expect(listed.map((f) => f.path).sort()).toEqual(['index.html', 'out.json', 'sub/numbers.txt']);
    const { runs } = await json<{ runs: { task: { taskId: string }; files: unknown[] }[] }>(await api('/files?task_name=web-outputs'), 200);
    expect(runs.map((r) => r.task.taskId)).toEqual([done.taskId]);
    expect(runs[0]!.files).toHaveLength(3);
    expect(await json(await api('/files'), 400)).toMatchObject({ field: 'task_name' });
  });

  it('streams one file with its length, ETag and disposition, and resumes it with Range', async () => {
    const numbers = (await files()).find((f) => f.path === 'sub/numbers.txt')!;
    const whole = await api(`/tasks/${done.taskId}/files/sub/numbers.txt`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('etag')).toBe(`"${numbers.sha256}"`);
    expect(whole.headers.get('content-length')).toBe(String(numbers.size));
    expect(whole.headers.get('content-disposition')).toBe(`attachment; filename="numbers.txt"; filename*=UTF-8''numbers.txt`);
    expect(whole.headers.get('x-content-type-options')).toBe('nosniff');
    const body = Buffer.from(await whole.arrayBuffer());
    expect(sha256(body)).toBe(numbers.sha256);
    // A download cut off after 1000 bytes continues from there.
    const rest = await api(`/tasks/${done.taskId}/files/sub/numbers.txt`, { headers: { range: 'bytes=1000-', 'if-range': `"${numbers.sha256}"` } });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes 1000-${numbers.size - 1}/${numbers.size}`);
    expect(Buffer.concat([body.subarray(0, 1000), Buffer.from(await rest.arrayBuffer())]).equals(body)).toBe(true);
    const middle = await api(`/tasks/${done.taskId}/files/sub/numbers.txt`, { headers: { range: 'bytes=1000-1999' } });
    expect(middle.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await middle.arrayBuffer()).equals(body.subarray(1000, 2000))).toBe(true);
    const suffix = await api(`/tasks/${done.taskId}/files/sub/numbers.txt`, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(body.subarray(-5))).toBe(true);
    const beyond = await api(`/tasks/${done.taskId}/files/sub/numbers.txt`, { headers: { range: `bytes=${numbers.size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${numbers.size}`);
    expect((await api(`/tasks/${done.taskId}/files/sub/numbers.txt`, { headers: { 'if-none-match': `"${numbers.sha256}"` } })).status).toBe(304);
    expect((await api(`/tasks/${done.taskId}/files/missing.txt`)).status).toBe(404);
  });

  it('never serves an output as HTML: index.html is an opaque, sandboxed attachment even when asked inline', async () => {
    for (const query of ['', '?inline=1']) {
      const res = await api(`/tasks/${done.taskId}/files/index.html${query}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="index.html"/);
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toContain('<script>');
    }
    const json = await api(`/tasks/${done.taskId}/files/out.json?inline=1`);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.headers.get('content-disposition')).toMatch(/^inline; /);
  });

  it("zips the task's files, every entry's bytes matching the stored sha256", async () => {
    const res = await api(`/tasks/${done.taskId}/files.zip`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const zipPath = join(scratch.path, 'all.zip');
    await writeFile(zipPath, Buffer.from(await res.arrayBuffer()));
    await run('unzip', ['-t', zipPath]);
    for (const file of await files()) {
      const { stdout } = await run('unzip', ['-p', zipPath, file.path], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
      expect(sha256(stdout), file.path).toBe(file.sha256);
    }
    const { stdout: listing } = await run('unzip', ['-Z1', zipPath]);
    expect(listing.trim().split('\n').sort()).toEqual((await files()).map((f) => f.path).sort());
  });

  it("deletes a finished task's files", async () => {
    const { task } = await json<{ task: { taskId: string } }>(await submit({ image: TEST_IMAGE, command: ['sh', '-c', 'echo x > /output/x.txt'] }), 201);
    await waitForStatus(task.taskId, ['SUCCEEDED']);
    expect(await json(await api(`/tasks/${task.taskId}/files`, { method: 'DELETE' }), 200)).toEqual({ deletedFiles: 1, deletedBytes: 2 });
    expect((await json<{ files: unknown[] }>(await api(`/tasks/${task.taskId}/files`), 200)).files).toEqual([]);
  });
});

describe('events', () => {
  it('streams task events as server-sent events that resume after Last-Event-ID', async () => {
    const path = `/events?task_id=${done.taskId}&since=1h`;
    const first = await readEvents(await api(path), (e) => e.length >= 4);
    const parsed = first.map((e) => JSON.parse(e.data) as { seq: number; taskId: string; kind: string });
    expect(parsed.every((e) => e.taskId === done.taskId)).toBe(true);
    expect(first.map((e) => e.id)).toEqual(parsed.map((e) => String(e.seq)));
    const resumed = await readEvents(await api(path, { headers: { 'last-event-id': first[1]!.id! } }), (e) => e.length >= 2);
    expect(resumed.map((e) => e.id)).toEqual([first[2]!.id, first[3]!.id]);
  });
});

describe('the process', () => {
  it('answers 503 when the master is down', async () => {
    const down = await startApp('web-down', 'web', { CLOUDAI_MASTER: `127.0.0.1:${await freePort()}`, WEB_LISTEN_ADDR: '127.0.0.1:0' });
    try {
      const url = `http://${String((down as unknown as { readyLine: Record<string, unknown> }).readyLine.address)}/api/v1/tasks`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${cluster.userToken}` } });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'unavailable' });
    } finally {
      await stopApp(down);
    }
  });

  it('serves the console: its files, index.html for its routes, immutable assets, a strict CSP; 503 when not built', async () => {
    const dist = join(scratch.path, 'console');
    await mkdir(join(dist, 'assets'), { recursive: true });
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(join(dist, 'assets', 'app-1234.js'), 'console.log(1)');
    const app = await startApp('web-console', 'web', { CLOUDAI_MASTER: cluster.masterAddr, WEB_LISTEN_ADDR: '127.0.0.1:0', WEB_CONSOLE_DIR: dist });
    const empty = await startApp('web-empty', 'web', {
      CLOUDAI_MASTER: cluster.masterAddr,
      WEB_LISTEN_ADDR: '127.0.0.1:0',
      WEB_CONSOLE_DIR: join(scratch.path, 'nothing'),
    });
    const at = (p: AppProcess) => `http://${String((p as unknown as { readyLine: Record<string, unknown> }).readyLine.address)}`;
    try {
      const page = await fetch(`${at(app)}/tasks/abc?status=RUNNING`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>console</title>');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      const asset = await fetch(`${at(app)}/assets/app-1234.js`);
      expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(asset.headers.get('cache-control')).toContain('immutable');
      expect((await fetch(`${at(app)}/..%2f..%2fetc%2fpasswd`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect((await fetch(`${at(app)}/api/v1/nope`)).status).toBe(404);
      const missing = await fetch(`${at(empty)}/tasks`);
      expect(missing.status).toBe(503);
      expect(await missing.text()).toContain('console not built');
      const spec = await json<{ openapi: string }>(await fetch(`${at(empty)}/api/v1/openapi.json`), 200);
      expect(spec.openapi).toBe('3.1.0');
    } finally {
      await stopApp(app);
      await stopApp(empty);
    }
  });

  it('refuses to serve plain HTTP beyond loopback unless allowed', async () => {
    await expect(startApp('web-open', 'web', { CLOUDAI_MASTER: cluster.masterAddr, WEB_LISTEN_ADDR: '0.0.0.0:0' })).rejects.toThrow(
      /refusing to serve plain HTTP on 0\.0\.0\.0:0/,
    );
    const allowed = await startApp('web-open', 'web', { CLOUDAI_MASTER: cluster.masterAddr, WEB_LISTEN_ADDR: '0.0.0.0:0', CLOUDAI_ALLOW_INSECURE: 'true' });
    await stopApp(allowed);
  });
});
