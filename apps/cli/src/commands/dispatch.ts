import { workerIdSchema } from '@cloudai/domain';
import type { Command } from 'commander';
import { contextOf } from '../context.js';
import { parseOptions } from '../options.js';
import { addSubmitOptions, specFromOptions, submitAndMaybeFollow } from './task.js';

export function registerDispatch(program: Command): void {
  const cmd = program
    .command('dispatch')
    .description('submit a task that may only run on the named worker')
    .usage('<worker-id> <image> [options] [-- command args...]')
    .argument('<worker-id>', 'worker to pin the task to (see `cloudai workers`)')
    .argument('<image>', 'Docker image, e.g. alpine:3.20')
    .argument('[command...]', 'container command (put it after --)');
  addSubmitOptions(cmd).action(
    async (workerId: string, image: string, command: string[], opts: Record<string, unknown>, self: Command) => {
      const worker = parseOptions(workerIdSchema('<worker-id>'), workerId);
      const { spec, idempotencyKey, json, follow } = specFromOptions(image, command, opts);
      const ctx = contextOf(self);
      process.exitCode = await submitAndMaybeFollow(ctx, { json, follow, spec, idempotencyKey }, async (m) => {
        const res = await m.client.dispatchTask({ workerId: worker, spec, idempotencyKey });
        return res.task;
      });
    },
  );
}
