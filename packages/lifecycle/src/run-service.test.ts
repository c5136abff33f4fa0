import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { PARENT_GONE_DEADLINE_MS } from './run-service.js';

// The fixture is run built, as the apps are: runService owns the process
// (signals, exit), so it is tested in processes of its own.
const FIXTURE = fileURLToPath(new URL('../dist/testing/fixture-service.js', import.meta.url));

type LogLine = Record<string, unknown> & { msg?: string };

interface Fixture {
  /** NDJSON lines from stdout so far, parsed (a line that is not JSON, such as pretty output, as `{ text }`) */
  lines: LogLine[];
  stderr(): string;
  /** resolves once a line with this msg (or pretty text containing it) has been logged */
  logged(msg: string): Promise<LogLine>;
  signal(signal: NodeJS.Signals): void;
  /** closes the read end of the fixture's stdout, as a parent that died does */
  closeStdout(): void;
  /** closes this end of the pipe passed as CLOUDAI_PARENT_PIPE_FD (with `parentPipe`) */
  closeParentPipe(): void;
  /** resolves with the exit code once stdout and stderr are read to the end */
  exited: Promise<number | null>;
}

interface FixtureOptions {
  /** pass a pipe as fd 3 and name it in CLOUDAI_PARENT_PIPE_FD */
  parentPipe?: boolean;
}

function runFixture(env: Record<string, string>, options: FixtureOptions = {}): Fixture {
  if (!existsSync(FIXTURE)) throw new Error(`${FIXTURE} is missing: run \`pnpm build\` first`);
  const child = spawn(process.execPath, [FIXTURE], {
    env: { PATH: process.env.PATH ?? '', ...env, ...(options.parentPipe ? { CLOUDAI_PARENT_PIPE_FD: '3' } : {}) },
    // fd 3 is ignored unless asked for: then it is the parent pipe.
    stdio: ['ignore', 'pipe', 'pipe', options.parentPipe ? 'pipe' : 'ignore'],
  });
  // Piped above: never null.
  const stdout = child.stdout!;
  const stderrStream = child.stderr!;
  const lines: LogLine[] = [];
  const waiting = new Map<string, (line: LogLine) => void>();
  const matches = (line: LogLine, msg: string): boolean =>
    line.msg === msg || (typeof line.text === 'string' && line.text.includes(msg));
  let stderr = '';
  stderrStream.on('data', (b: Buffer) => (stderr += b.toString()));
  const reader = createInterface({ input: stdout });
  reader.on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { text };
    }
    lines.push(line);
    for (const [msg, found] of waiting) if (matches(line, msg)) found(line);
  });
  const readerClosed = new Promise((done) => reader.once('close', done));
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code))).then(
    async (code) => {
      await readerClosed;
      return code;
    },
  );
  return {
    lines,
    stderr: () => stderr,
    logged: (msg) =>
      new Promise((found, failed) => {
        const seen = lines.find((l) => matches(l, msg));
        if (seen) return found(seen);
        waiting.set(msg, found);
        void exited.then((code) => failed(new Error(`exited (${code}) before logging "${msg}": ${stderr}`)));
      }),
    signal: (signal) => child.kill(signal),
    closeStdout: () => {
      reader.close();
      stdout.destroy();
    },
    closeParentPipe: () => {
      const pipe = child.stdio[3];
      if (!pipe) throw new Error('the fixture was started without a parent pipe');
      pipe.destroy();
    },
    exited,
  };
}

const messages = (f: Fixture) => f.lines.map((l) => l.msg);

describe('runService', () => {
  it('on SIGTERM stops the service once, logs every line stop() wrote, and exits 0', async () => {
    const f = runFixture({ FIXTURE_STOP_LINES: '2000' });
    await f.logged('serving');
    f.signal('SIGTERM');
    expect(await f.exited).toBe(0);
    expect(f.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
    expect(messages(f).filter((m) => m === 'stop called')).toHaveLength(1);
    // A signal asks for the service's graceful stop.
    expect(f.lines.find((l) => l.msg === 'stop called')).toMatchObject({ reason: 'signal' });
    // Flushed before the exit: the last of a burst too big for the pipe, and the line after it.
    expect(f.lines.filter((l) => l.msg === 'stop line').map((l) => l.i)).toEqual([...Array(2000).keys()]);
    expect(messages(f).at(-1)).toBe('stopped');
    expect(f.stderr()).toBe('');
  });

  it('exits 1 with a log line when stop() overruns the shutdown deadline', async () => {
    const f = runFixture({ FIXTURE_STOP: 'hangs', FIXTURE_DEADLINE_MS: '300' });
    await f.logged('serving');
    f.signal('SIGTERM');
    expect(await f.exited).toBe(1);
    expect(f.lines.at(-1)).toMatchObject({
      level: 50,
      deadlineMs: 300,
      msg: 'shutdown deadline passed; exiting without waiting for stop',
    });
    expect(messages(f)).not.toContain('stopped');
  });

  it('prints one line naming each bad variable on a configuration error and exits 1, starting nothing', async () => {
    const f = runFixture({ FIXTURE_DEADLINE_MS: 'soon', FIXTURE_STOP: 'sometimes' });
    expect(await f.exited).toBe(1);
    const stderr = f.stderr();
    expect(stderr).toMatch(/^fixture: invalid configuration: .*\n$/);
    expect(stderr.split('\n')).toHaveLength(2);
    expect(stderr).toContain('FIXTURE_DEADLINE_MS: ');
    expect(stderr).toContain('FIXTURE_STOP: ');
    expect(f.lines).toEqual([]);
  });

  it.each([
    ['rejection', 'unhandled promise rejection', 'fixture lost a promise'],
    ['exception', 'uncaught exception', 'fixture threw from a callback'],
  ])('on an unhandled %s logs it under err and stops the service, exiting 1', async (fault, msg, message) => {
    const f = runFixture({ FIXTURE_FAULT: fault });
    expect(await f.exited).toBe(1);
    const line = f.lines.find((l) => l.msg === msg);
    expect(line).toMatchObject({ level: 60, err: { type: 'Error', message } });
    expect((line?.err as { stack?: string }).stack).toContain('fixture-service.js');
    expect(messages(f)).toEqual(['serving', msg, 'shutting down', 'stop called', 'stopped']);
  });

  it('stops the service and exits 1 when start() fails', async () => {
    const f = runFixture({ FIXTURE_START: 'throws' });
    expect(await f.exited).toBe(1);
    expect(f.lines[0]).toMatchObject({ level: 60, msg: 'failed to start', err: { message: 'fixture start failed' } });
    expect(messages(f)).toEqual(['failed to start', 'shutting down', 'stop called', 'stopped']);
    expect(f.lines.find((l) => l.msg === 'stop called')).toMatchObject({ reason: 'fault' });
  });

  it('exits 1 at once on a second signal while stop() is still running', async () => {
    const f = runFixture({ FIXTURE_STOP: 'hangs' });
    await f.logged('serving');
    f.signal('SIGTERM');
    await f.logged('stop called');
    f.signal('SIGINT');
    expect(await f.exited).toBe(1);
    // Well before the 60 s deadline, which would have logged its own line.
    expect(f.lines.at(-1)).toMatchObject({ level: 40, signal: 'SIGINT', msg: 'second signal: exiting without waiting' });
  });

  it('stops at once and exits 0 on SIGTERM while start() still waits, cutting the start short', async () => {
    const f = runFixture({ FIXTURE_START: 'waits', FIXTURE_DEADLINE_MS: '60000' });
    await f.logged('starting');
    f.signal('SIGTERM');
    // Without the abort, start() would wait on until the 60 s deadline and exit 1.
    expect(await f.exited).toBe(0);
    expect(messages(f)).toEqual(['starting', 'shutting down', 'start abandoned for the shutdown', 'stop called', 'stopped']);
    expect(f.lines.find((l) => l.msg === 'start abandoned for the shutdown')).toMatchObject({
      err: { message: 'start aborted' },
    });
  });

  it('stops the service and exits 0 once its parent pipe closes (the parent died)', async () => {
    const f = runFixture({}, { parentPipe: true });
    await f.logged('serving');
    f.closeParentPipe();
    expect(await f.exited).toBe(0);
    expect(f.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ parent: 'exited' });
    expect(messages(f).slice(-3)).toEqual(['shutting down', 'stop called', 'stopped']);
    // The service learns why, to stop fast: nobody is left to wait for a drain.
    expect(f.lines.find((l) => l.msg === 'stop called')).toMatchObject({ reason: 'parent-gone' });
  });

  it('bounds the shutdown by PARENT_GONE_DEADLINE_MS once its parent pipe closes, whatever the app allows', async () => {
    // The app's own deadline is long, as a worker's drain is.
    const f = runFixture({ FIXTURE_STOP: 'hangs', FIXTURE_DEADLINE_MS: '600000' }, { parentPipe: true });
    await f.logged('serving');
    f.closeParentPipe();
    expect(await f.exited).toBe(1);
    expect(f.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ parent: 'exited', deadlineMs: PARENT_GONE_DEADLINE_MS });
    expect(f.lines.at(-1)).toMatchObject({
      deadlineMs: PARENT_GONE_DEADLINE_MS,
      msg: 'shutdown deadline passed; exiting without waiting for stop',
    });
  });

  it('hurries a stop for SIGTERM once its parent pipe closes: stop() is told, and the deadline shortens', async () => {
    const f = runFixture({ FIXTURE_STOP: 'hangs', FIXTURE_DEADLINE_MS: '600000' }, { parentPipe: true });
    await f.logged('serving');
    f.signal('SIGTERM');
    await f.logged('stop called');
    f.closeParentPipe();
    // Without the hurry, the 600 s deadline of the drain would hold the process.
    expect(await f.exited).toBe(1);
    expect(f.lines.filter((l) => l.msg === 'stop called').map((l) => l.reason)).toEqual(['signal', 'parent-gone']);
    expect(f.lines.find((l) => l.msg === 'parent gone during the shutdown; hurrying it')).toMatchObject({
      parent: 'exited',
      deadlineMs: PARENT_GONE_DEADLINE_MS,
    });
    expect(f.lines.at(-1)).toMatchObject({
      deadlineMs: PARENT_GONE_DEADLINE_MS,
      msg: 'shutdown deadline passed; exiting without waiting for stop',
    });
  });

  it('keeps running while its parent pipe stays open', async () => {
    const f = runFixture({}, { parentPipe: true });
    await f.logged('serving');
    f.signal('SIGTERM');
    expect(await f.exited).toBe(0);
    // The stop came from the signal: the pipe had not ended.
    expect(f.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
    expect(f.lines.find((l) => l.msg === 'shutting down')).not.toHaveProperty('parent');
  });

  it('refuses a CLOUDAI_PARENT_PIPE_FD that names no open pipe, starting nothing', async () => {
    const f = runFixture({ CLOUDAI_PARENT_PIPE_FD: '1000' });
    expect(await f.exited).toBe(1);
    expect(f.stderr()).toMatch(/^fixture: invalid configuration: CLOUDAI_PARENT_PIPE_FD: descriptor 1000 is not open \(EBADF\)\n$/);
    expect(f.lines).toEqual([]);
  });

  // A parent that died took the read end of stdout with it: every line is
  // then a write to a closed pipe, and must neither throw nor hold the exit.
  it.each([
    ['NDJSON', 'false'],
    ['pretty', 'true'],
  ])('on SIGTERM with its stdout closed (%s logs) still stops and exits 0', { timeout: 30_000 }, async (_, pretty) => {
    const f = runFixture({ LOG_PRETTY: pretty, FIXTURE_STOP_LINES: '100' });
    await f.logged('serving');
    f.closeStdout();
    f.signal('SIGTERM');
    expect(await f.exited).toBe(0);
    expect(f.stderr()).toBe('');
  });
});
