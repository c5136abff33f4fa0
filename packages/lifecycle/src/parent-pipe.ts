import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { ConfigError, envNumber, parseEnv } from '@cloudai/config';
import { z } from 'zod';

/**
 * Set by a supervisor (`pnpm start`) to the number of a file descriptor it
 * passed the process: one end of a pipe whose other end only the supervisor
 * holds. The kernel closes that end however the supervisor dies, SIGKILL
 * included, so the pipe reaching its end is the one sign of it that cannot
 * be missed.
 */
export const PARENT_PIPE_ENV = 'CLOUDAI_PARENT_PIPE_FD';

const ParentPipeEnv = z.object({
  // 0 to 2 are stdin, stdout and stderr: never the supervisor's pipe.
  [PARENT_PIPE_ENV]: envNumber({ min: 3, max: 65_535, int: true }).optional(),
});

/**
 * The parent pipe's descriptor from `env`, or undefined when none is set.
 * Throws a ConfigError when the variable is not a number or names no open
 * pipe or socket (a file there would read to its end at once and stop the
 * process). The variable is removed from `env`: the descriptor means nothing
 * to a process this one starts.
 */
export function parentPipeFd(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fd = parseEnv(ParentPipeEnv, env)[PARENT_PIPE_ENV];
  if (fd === undefined) return undefined;
  let kind: 'pipe' | 'other';
  try {
    const stat = fstatSync(fd);
    kind = stat.isFIFO() || stat.isSocket() ? 'pipe' : 'other';
  } catch (err) {
    throw new ConfigError(
      `invalid configuration: ${PARENT_PIPE_ENV}: descriptor ${fd} is not open (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (kind !== 'pipe') throw new ConfigError(`invalid configuration: ${PARENT_PIPE_ENV}: descriptor ${fd} is not a pipe`);
  delete env[PARENT_PIPE_ENV];
  return fd;
}

/**
 * Calls `onGone` once the pipe on `fd` reaches its end or fails: the parent
 * holding its other end has exited. Whatever the parent writes is ignored.
 * The watch does not keep the process alive by itself.
 */
export function watchParentPipe(fd: number, onGone: () => void): void {
  const pipe = new Socket({ fd, readable: true, writable: false });
  let gone = false;
  const once = (): void => {
    if (gone) return;
    gone = true;
    onGone();
  };
  pipe.on('end', once);
  pipe.on('error', once);
  pipe.on('close', once);
  pipe.resume();
  pipe.unref();
}
