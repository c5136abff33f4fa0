import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { idArgument, parseOptions } from '../options.js';
import { renderStatusLine } from '../render.js';
import { printJson, taskJson } from '../views.js';

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description('cancel a task that has not finished; prints its resulting status')
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--json', 'print the task as JSON')
    .action(async (taskId: string, opts: { json?: boolean }, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      const ctx = contextOf(self);
      // The master fills in "cancelled by <user>", the user its token belongs to.
      const task = await withMaster(ctx.connection, async (m) => (await m.client.cancelTask({ taskId: id, reason: '' })).task);
      if (!task) throw new Error('the master answered without a task');
      if (opts.json) printJson(taskJson(task));
      else print(renderStatusLine(task, ctx.style));
    });
}
