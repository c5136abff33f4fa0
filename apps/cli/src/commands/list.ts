import { statusToProto, taskSortRequest } from '@cloudai/rpc/client';
import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { formatAge, formatTable, formatTimestamp, statusColour, type Cell } from '../format.js';
import { collect, ListOptions, parseOptions } from '../options.js';
import { printJson, taskJson, taskStatus } from '../views.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list your tasks (admins: --all-users for everyone\'s), newest first unless --sort says otherwise')
    .option('--status <status>', 'only tasks in these statuses (comma-separated or repeated, any case)', collect)
    .option('--name <name>', 'only tasks with exactly this name')
    .option('--limit <n>', 'at most this many tasks, 1-1000 (default: 50)')
    .option('--sort <field>', 'order by submitted_at, task_name or status; a leading - sorts descending (default: -submitted_at)')
    .option('--all-users', "every user's tasks, with a USER column (admins only)")
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
            allUsers: opts.allUsers,
            ...taskSortRequest(opts.sort),
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
          ...(opts.allUsers ? [t.userId] : []),
          t.spec?.image ?? '',
          { text: status, colour: statusColour(status) },
          t.exitCode === undefined ? '-' : String(t.exitCode),
          t.workerId || '-',
          formatTimestamp(t.submittedAt),
          formatAge(t.submittedAt, ctx.style.now),
        ];
      });
      const headers = ['TASK ID', 'NAME', ...(opts.allUsers ? ['USER'] : []), 'IMAGE', 'STATUS', 'EXIT', 'WORKER', 'SUBMITTED', 'AGE'];
      print(formatTable(headers, rows, ctx.style.colour));
      if (res.nextPageToken) {
        process.stderr.write(`note: more tasks match than shown; narrow with --status/--name or raise --limit\n`);
      }
    });
}
