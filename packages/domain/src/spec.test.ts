import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES, validateTaskSpec, type TaskSpec } from './spec.js';

const base: TaskSpec = {
  image: 'alpine:3.20',
  command: ['echo', 'hi'],
  env: { GREETING: 'hello' },
  resources: { ...DEFAULT_RESOURCES },
  taskName: '',
  timeoutSeconds: 0,
  network: false,
};

function messageFor(patch: Record<string, unknown>): string {
  const result = validateTaskSpec({ ...base, ...patch });
  if (result.ok) throw new Error(`expected ${JSON.stringify(patch)} to be rejected`);
  return result.message;
}

const withResources = (r: Record<string, unknown>) => ({ resources: { ...DEFAULT_RESOURCES, ...r } });

describe('validateTaskSpec', () => {
  it('accepts a plain spec and returns it unchanged', () => {
    expect(validateTaskSpec(base)).toEqual({ ok: true, spec: base });
  });

  // The CLI prints the message as-is, so it must name the wire field and echo the bad value.
  it.each([
    ['negative cpu', { cpu: -1 }, 'resources.cpu must be > 0, got -1'],
    ['zero cpu', { cpu: 0 }, 'resources.cpu must be > 0, got 0'],
    ['NaN cpu', { cpu: NaN }, 'resources.cpu must be a finite number, got NaN'],
    ['Infinity memory', { memoryGb: Infinity }, 'resources.memory_gb must be a finite number, got Infinity'],
    ['-Infinity storage', { storageGb: -Infinity }, 'resources.storage_gb must be a finite number, got -Infinity'],
    ['zero memory', { memoryGb: 0 }, 'resources.memory_gb must be > 0, got 0'],
    ['absurd memory', { memoryGb: 1e9 }, 'resources.memory_gb must be <= 16384, got 1000000000'],
    ['absurd cpu', { cpu: 1e6 }, 'resources.cpu must be <= 1024, got 1000000'],
    ['absurd gpu', { gpu: 1000 }, 'resources.gpu must be <= 64, got 1000'],
    ['negative storage', { storageGb: -1 }, 'resources.storage_gb must be >= 0, got -1'],
    ['negative gpu', { gpu: -1 }, 'resources.gpu must be >= 0, got -1'],
    ['fractional gpu', { gpu: 0.5 }, 'resources.gpu must be a whole number, got 0.5'],
    ['cpu below a millicore', { cpu: 0.0001 }, 'resources.cpu must be at least 0.001 cores, got 0.0001'],
    ['memory below 4 MiB', { memoryGb: 0.001 }, 'resources.memory_gb must be at least 4 MiB (0.004), got 0.001'],
    ['cpu as a string', { cpu: '2' }, 'resources.cpu must be a number'],
  ])('rejects %s naming the field', (_, r, message) => {
    expect(messageFor(withResources(r))).toBe(message);
  });

  it('accepts zero storage and zero gpu, which mean "none"', () => {
    expect(validateTaskSpec({ ...base, ...withResources({ storageGb: 0, gpu: 0 }) }).ok).toBe(true);
  });

  it.each(['', 'has space', '-rf', 'alpine\n:3', 'alpine:3\u0000', 'a'.repeat(513)])('rejects image %j', (image) => {
    expect(messageFor({ image })).toMatch(/^image /);
  });

  it.each(['alpine', 'alpine:3.20', `registry:5000/team/img:1.0@sha256:${'ab'.repeat(32)}`, 'ghcr.io/org/app_x:v1.2-rc'])(
    'accepts image %j',
    (image) => {
      expect(validateTaskSpec({ ...base, image }).ok).toBe(true);
    },
  );

  // Docker refuses these at pull time ("invalid reference format"), long after
  // the user was told the task was accepted; the master should say so at submit.
  it.each(['Alpine:3', 'alpine:', 'a//b'])('rejects malformed image reference %j', (image) => {
    expect(messageFor({ image })).toMatch(/^image /);
  });

  // The key is the user's text: it must be quoted as typed, not turned into snake_case.
  it.each(['1ABC', 'A-B', 'A B', ''])('rejects env key %j naming the key as typed', (key) => {
    expect(messageFor({ env: { [key]: 'x' } })).toBe(`env key ${JSON.stringify(key)} is not a valid variable name`);
  });

  // exec refuses a longer "KEY=value" (MAX_ARG_STRLEN): the task would fail only when its container starts.
  it('rejects an env entry over 128 KiB, and takes one of exactly that', () => {
    expect(messageFor({ env: { K: 'x'.repeat(128 * 1024 - 1) } })).toBe('env entries ("KEY=value") must be at most 131072 bytes each');
    expect(validateTaskSpec({ ...base, env: { K: 'x'.repeat(128 * 1024 - 2) } }).ok).toBe(true);
  });

  it('quotes a long env key cut, not whole', () => {
    expect(messageFor({ env: { [`1${'A'.repeat(100_000)}`]: 'x' } })).toBe(`env key "1${'A'.repeat(63)}"… (100001 characters) is not a valid variable name`);
  });

  it('rejects NUL in an env value', () => {
    expect(messageFor({ env: { OK: 'a\u0000b' } })).toBe('env values must not contain NUL');
  });

  it('rejects NUL inside a command argument', () => {
    expect(messageFor({ command: ['echo', 'a\u0000b'] })).toBe('command arguments must not contain NUL');
  });

  it('rejects more than 4096 command arguments', () => {
    expect(messageFor({ command: Array.from({ length: 4097 }, () => 'x') })).toBe('command must have at most 4096 arguments');
  });

  // The field should be named once; "task_name: task_name must ..." reads like a bug to users.
  it.each([
    ['newline', 'a\nb'],
    ['escape', 'red\u001b[31m'],
    ['DEL', 'a\u007fb'],
    ['NUL', 'a\u0000b'],
  ])('rejects a task name with %s', (_, taskName) => {
    expect(messageFor({ taskName })).toBe('task_name must not contain control characters');
  });

  // U+009B is CSI for terminals that honour 8-bit controls: the same hazard as ESC.
  it('rejects a task name with a C1 control character', () => {
    expect(messageFor({ taskName: 'a\u009b31mb' })).toMatch(/^task_name must not contain control characters/);
  });

  it('rejects a task name with leading or trailing whitespace', () => {
    expect(messageFor({ taskName: ' padded' })).toBe('task_name must not start or end with whitespace');
  });

  it('rejects a task name over 200 characters', () => {
    expect(messageFor({ taskName: 'n'.repeat(201) })).toBe('task_name must be at most 200 characters');
  });

  // Names are kept as the user typed them; storage sanitizes them for its paths.
  it.each(['../../etc', 'a/b', '..'])('keeps a path-like task name %j as typed', (taskName) => {
    expect(validateTaskSpec({ ...base, taskName })).toMatchObject({ ok: true, spec: { taskName } });
  });

  it('allows a tab inside a task name', () => {
    expect(validateTaskSpec({ ...base, taskName: 'a\tb' }).ok).toBe(true);
  });

  it.each([
    [-1, 'timeout_seconds must be >= 0'],
    [1.5, 'timeout_seconds must be a whole number'],
    [31 * 24 * 3600, 'timeout_seconds must be <= 2592000'],
  ])('rejects timeout_seconds %s naming the field once', (timeoutSeconds, message) => {
    expect(messageFor({ timeoutSeconds })).toBe(message);
  });
});
