import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
}

/**
 * Runs `cloudai args...` asynchronously (a fake master in this same process
 * must keep answering) with a clean environment: only PATH, a fixed user,
 * NO_COLOR, and whatever `env` adds.
 */
export function runCliRaw(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: RunOptions = {},
): Promise<RawCliResult> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing; build first: pnpm turbo run build --filter @cloudai/cli...`);
  }
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ PATH: process.env.PATH, CLOUDAI_USER: 'alice', NO_COLOR: '1', ...env })) {
    if (v !== undefined) childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
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
