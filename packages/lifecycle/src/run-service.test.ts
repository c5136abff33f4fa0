import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

// The fixture is run built, as the apps are: runService owns the process
// (signals, exit), so it is tested in processes of its own.
const FIXTURE = fileURLToPath(new URL('../dist/testing/fixture-service.js', import.meta.url));

type LogLine = Record<string, unknown> & { msg?: string };

interface Fixture {
  /** NDJSON lines from stdout so far, parsed */
  lines: LogLine[];
  stderr(): string;
  /** resolves once a line with this msg has been logged */
  logged(msg: string): Promise<LogLine>;
  signal(signal: NodeJS.Signals): void;
  /** resolves with the exit code once stdout and stderr are read to the end */
  exited: Promise<number | null>;
}

function runFixture(env: Record<string, string>): Fixture {
  if (!existsSync(FIXTURE)) throw new Error(`${FIXTURE} is missing: run \`pnpm build\` first`);
  const child = spawn(process.execPath, [FIXTURE], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiting = new Map<string, (line: LogLine) => void>();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    if (line.msg !== undefined) waiting.get(line.msg)?.(line);
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
        const seen = lines.find((l) => l.msg === msg);
        if (seen) return found(seen);
        waiting.set(msg, found);
        void exited.then((code) => failed(new Error(`exited (${code}) before logging "${msg}": ${stderr}`)));
      }),
    signal: (signal) => child.kill(signal),
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
});
