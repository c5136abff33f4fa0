import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer, type Server } from 'node:net';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The docker CLI these tests drive containers with (run, exec, inspect need no BuildKit). */
export const DOCKER = process.env.DOCKER ?? 'docker';
/** Compose v1 (Debian's docker-compose), which CI installs; any compose that reads the same files will do. */
export const COMPOSE = process.env.CLOUDAI_COMPOSE ?? 'docker-compose';

/**
 * Runs a command to its end and collects its output; with `log`, appends
 * both streams to that file instead (a build's pages of progress).
 */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; log?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (options.log) {
      const log = createWriteStream(options.log, { flags: 'a' });
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      child.on('close', () => log.end());
    } else {
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    }
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Like run, but a non-zero exit is an error naming the command and what it printed. */
export async function runOk(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-4000)}`);
  }
  return r.stdout;
}

/**
 * `count` distinct ports free on 127.0.0.1 right now: the host-network
 * cluster must not take the ports of another one on this machine.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}
