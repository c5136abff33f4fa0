import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from './index.js';

const SECRET = 'S3CRET-do-not-log';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudai-logger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A logger writing NDJSON to a real file, and a reader of what reached it. */
function fileLogger(level = 'info'): { log: Logger; lines(): Promise<Record<string, unknown>[]>; raw(): Promise<string> } {
  const file = join(dir, 'log.ndjson');
  const destination = pino.destination({ dest: file, sync: true });
  const log = createLogger({ name: 'test-app', level, destination });
  const raw = () => readFile(file, 'utf8');
  return {
    log,
    raw,
    lines: async () =>
      (await raw())
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON object per line with the name, pid, level and message, object first', async () => {
    const out = fileLogger();
    out.log.child({ component: 'grpc' }).info({ taskId: 't-1' }, 'task started');
    out.log.debug('below the level');
    expect(await out.lines()).toEqual([
      expect.objectContaining({ level: 30, name: 'test-app', pid: process.pid, component: 'grpc', taskId: 't-1', msg: 'task started' }),
    ]);
  });

  it('redacts tokens, authorization and task environments wherever the components put them', async () => {
    const out = fileLogger();
    const env = { API_KEY: SECRET };
    out.log.info({ token: SECRET, authorization: `Bearer ${SECRET}` }, 'top level');
    out.log.info({ request: { token: SECRET, authorization: SECRET } }, 'one level down');
    out.log.info({ env }, 'an env');
    out.log.info({ container: { env } }, 'a nested env');
    out.log.info({ spec: { env } }, 'a spec');
    out.log.info({ assignment: { spec: { env } } }, 'a nested spec');
    out.log.info({ task: { spec: { env, image: 'busybox' } } }, 'a task');
    out.log.info({ headers: { cookie: `s=${SECRET}`, 'set-cookie': [`s=${SECRET}`], 'x-csrf-token': SECRET }, csrfToken: SECRET }, 'web headers');
    const lines = await out.lines();
    expect(lines.map((l) => l.msg)).toHaveLength(8);
    expect(await out.raw()).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({ token: '[redacted]', authorization: '[redacted]' });
    expect(lines[1]).toMatchObject({ request: { token: '[redacted]', authorization: '[redacted]' } });
    expect(lines[2]).toMatchObject({ env: '[redacted]' });
    expect(lines[3]).toMatchObject({ container: { env: '[redacted]' } });
    expect(lines[4]).toMatchObject({ spec: { env: '[redacted]' } });
    expect(lines[5]).toMatchObject({ assignment: { spec: { env: '[redacted]' } } });
    // Only the secret goes: the rest of the record stays useful.
    expect(lines[6]).toMatchObject({ task: { spec: { env: '[redacted]', image: 'busybox' } } });
    expect(lines[7]).toMatchObject({
      headers: { cookie: '[redacted]', 'set-cookie': '[redacted]', 'x-csrf-token': '[redacted]' },
      csrfToken: '[redacted]',
    });
  });

  it.each(['secret', 'joinSecret', 'joinToken', 'credential', 'grant', 'uploadGrant', 'assertion'])(
    'redacts %s at the top level and one level down',
    async (field) => {
      const out = fileLogger();
      out.log.info({ [field]: SECRET }, 'top level');
      out.log.info({ worker: { [field]: SECRET } }, 'one level down');
      expect(await out.lines()).toMatchObject([{ [field]: '[redacted]' }, { worker: { [field]: '[redacted]' } }]);
      expect(await out.raw()).not.toContain(SECRET);
    },
  );

  it('serializes an error under err with its type, message, stack, cause and own fields', async () => {
    const out = fileLogger();
    class StoreError extends Error {
      readonly code = 'E_STORE';
    }
    out.log.error({ err: new StoreError('write failed', { cause: new Error('disk full') }) }, 'commit failed');
    const [line] = await out.lines();
    expect(line).toMatchObject({
      level: 50,
      msg: 'commit failed',
      err: { type: 'StoreError', message: 'write failed: disk full', code: 'E_STORE' },
    });
    const stack = (line?.err as { stack?: unknown }).stack;
    expect(stack).toMatch(/^Error: write failed\n\s+at /);
    expect(stack).toContain('caused by: Error: disk full');
  });
});
