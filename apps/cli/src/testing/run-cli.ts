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

/**
 * Runs `cloudai args...` asynchronously (a fake master in this same process
 * must keep answering) with a clean environment: only PATH, a fixed user,
 * NO_COLOR, and whatever `env` adds.
 */
export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing; build first: pnpm turbo run build --filter @cloudai/cli...`);
  }
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ PATH: process.env.PATH, CLOUDAI_USER: 'alice', NO_COLOR: '1', ...env })) {
    if (v !== undefined) childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
