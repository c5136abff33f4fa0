import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { idArgument, parseOptions } from '../options.js';
import { renderTaskDetails } from '../render.js';
import { printJson, taskJson } from '../views.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a task's status, exit code, times and resources")
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--json', 'print the task as JSON')
    .action(async (taskId: string, opts: { json?: boolean }, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      const ctx = contextOf(self);
      const task = await withMaster(ctx.connection, async (m) => (await m.client.getTask({ taskId: id })).task);
      if (!task) throw new Error('the master answered without a task');
      if (opts.json) printJson(taskJson(task));
      else print(renderTaskDetails(task, ctx.style));
    });
}
