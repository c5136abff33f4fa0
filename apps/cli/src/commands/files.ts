import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { formatBytes, formatTable } from '../format.js';
import { idArgument, parseOptions } from '../options.js';
import { printJson } from '../views.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function registerFiles(program: Command): void {
  const files = program
    .command('files')
    .description("list a task's output files with size and SHA-256; `files rm` deletes them")
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--json', 'print [{"path","size","sha256"}] as JSON')
    .action(async (taskId: string, opts: { json?: boolean }, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      const ctx = contextOf(self);
      const res = await withMaster(ctx.connection, (m) => m.client.listFiles({ taskId: id }));
      if (opts.json) {
        printJson(res.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })));
        return;
      }
      if (res.files.length === 0) {
        print('No output files.');
        return;
      }
      const total = res.totalBytes || res.files.reduce((sum, f) => sum + f.size, 0);
      print(formatTable(['PATH', 'SIZE', 'SHA256'], res.files.map((f) => [f.path, formatBytes(f.size), f.sha256])));
      print(`${plural(res.files.length, 'file')}, ${formatBytes(total)} total`);
    });

  files
    .command('rm')
    .description("delete a task's stored output files and their records")
    .argument('<task-id>', 'the id `cloudai task` printed')
    .action(async (taskId: string, _opts: unknown, self: Command) => {
      const id = parseOptions(idArgument('<task-id>'), taskId);
      const ctx = contextOf(self);
      const res = await withMaster(ctx.connection, (m) => m.client.deleteFiles({ taskId: id }));
      print(`Deleted ${plural(res.deletedFiles, 'file')} (${formatBytes(res.deletedBytes)})`);
    });
}
