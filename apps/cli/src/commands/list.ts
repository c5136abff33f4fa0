import { statusToProto } from '@cloudai/rpc';
import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { formatAge, formatTable, formatTimestamp, statusColour, type Cell } from '../format.js';
import { collect, ListOptions, parseOptions } from '../options.js';
import { printJson, taskJson, taskStatus } from '../views.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list your tasks, newest first')
    .option('--status <status>', 'only tasks in these statuses (comma-separated or repeated, any case)', collect)
    .option('--name <name>', 'only tasks with exactly this name')
    .option('--limit <n>', 'at most this many tasks, 1-1000 (default: 50)')
    .option('--json', 'print a JSON array of tasks (the `status --json` shape)')
    .action(async (raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(ListOptions, raw);
      const ctx = contextOf(self);
      const res = await withMaster(ctx.connection, (m) =>
        m.client.listTasks(
          {
            statuses: opts.status.map(statusToProto),
            taskName: opts.name ?? '',
            limit: opts.limit ?? 0,
            pageToken: '',
          },
        ),
      );
      if (opts.json) {
        printJson(res.tasks.map(taskJson));
        return;
      }
      if (res.tasks.length === 0) {
        print('No tasks found.');
        return;
      }
      const rows = res.tasks.map((t): (Cell | string)[] => {
        const status = taskStatus(t);
        return [
          t.taskId,
          t.taskName,
          t.spec?.image ?? '',
          { text: status, colour: statusColour(status) },
          t.exitCode === undefined ? '-' : String(t.exitCode),
          t.workerId || '-',
          formatTimestamp(t.submittedAt),
          formatAge(t.submittedAt, ctx.style.now),
        ];
      });
      print(formatTable(['TASK ID', 'NAME', 'IMAGE', 'STATUS', 'EXIT', 'WORKER', 'SUBMITTED', 'AGE'], rows, ctx.style.colour));
      if (res.nextPageToken) {
        process.stderr.write(`note: more tasks match than shown; narrow with --status/--name or raise --limit\n`);
      }
    });
}
