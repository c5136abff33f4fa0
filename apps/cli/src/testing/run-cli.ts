import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_TOKEN } from './fake-master.js';

/** The built binary, run the way a user's shell would run it. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The same, with the output as the exact bytes the process wrote. */
export interface RawCliResult {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RunOptions {
  /** working directory of the process (default: this one) */
  cwd?: string;
  /** written to the process's stdin, which is then closed (default: an empty stdin) */
  input?: string;
}

/**
 * A config folder with nothing in it, so the user's own ~/.config never leaks
 * into a test. One per user, kept: the CLI only reads it (tests that write a
 * config pass their own XDG_CONFIG_HOME).
 */
function noConfigHome(): string {
  const path = join(tmpdir(), `cloudai-cli-tests-${process.getuid?.() ?? 'user'}-no-config`);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}

/** Where the CLI keeps its code cache in tests, rather than the user's ~/.cache. One per user, kept. */
export function testCacheHome(): string {
  const path = join(tmpdir(), `cloudai-cli-tests-${process.getuid?.() ?? 'user'}-cache`);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}

/**
 * The clean environment the CLI runs in: only PATH, the test token, an empty
 * config folder, a cache folder, NO_COLOR, and whatever `env` adds
 * (undefined removes one).
 */
export function cliEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const childEnv: Record<string, string> = {};
  const base = {
    PATH: process.env.PATH,
    CLOUDAI_TOKEN: TEST_TOKEN,
    XDG_CONFIG_HOME: noConfigHome(),
    XDG_CACHE_HOME: testCacheHome(),
    NO_COLOR: '1',
  };
  for (const [k, v] of Object.entries({ ...base, ...env })) {
    if (v !== undefined) childEnv[k] = v;
  }
  return childEnv;
}

/**
 * Runs `cloudai args...` asynchronously (a fake master in this same process
 * must keep answering) in the environment `cliEnv(env)` makes.
 */
export function runCliRaw(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: RunOptions = {},
): Promise<RawCliResult> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing; build first: pnpm turbo run build --filter @cloudai/cli...`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: cliEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    // A CLI that exits before reading its input closes the pipe; that is its business, not a test failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }));
  });
}

/** runCliRaw with the output decoded as UTF-8. */
export async function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: RunOptions = {},
): Promise<CliResult> {
  const res = await runCliRaw(args, env, options);
  return { code: res.code, stdout: res.stdout.toString('utf8'), stderr: res.stderr.toString('utf8') };
}
