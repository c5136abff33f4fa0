import type { Resources, Worker } from '@cloudai/proto';
import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { formatAge, formatNumber, formatTable, type Cell, type Colour } from '../format.js';
import { printJson, workerJson, workerState } from '../views.js';

type Key = keyof Resources;

/** "1.5/4": what is placed on the worker out of what it offers. */
export function allocation(worker: Worker, key: Key, unit = ''): string {
  const n = (r: Resources | undefined) => {
    const v = r?.[key];
    return v === undefined ? '-' : formatNumber(v);
  };
  return `${n(worker.allocated)}/${n(worker.capacity)}${unit}`;
}

const STATE_COLOUR: Record<string, Colour | undefined> = { ALIVE: 'green', DRAINING: 'yellow', LOST: 'red' };

export function registerWorkers(program: Command): void {
  program
    .command('workers')
    .description('list workers with their capacity, allocation and heartbeat')
    .option('--all', 'include workers the master considers LOST')
    .option('--json', 'print a JSON array of workers')
    .action(async (opts: { all?: boolean; json?: boolean }, self: Command) => {
      const ctx = contextOf(self);
      const res = await withMaster(ctx.connection, (m) =>
        m.client.listWorkers({ includeLost: opts.all === true }),
      );
      if (opts.json) {
        printJson(res.workers.map(workerJson));
        return;
      }
      if (res.workers.length === 0) {
        print('No workers registered.');
        return;
      }
      const rows = res.workers.map((w): (Cell | string)[] => {
        const state = workerState(w);
        return [
          w.workerId,
          { text: state, colour: STATE_COLOUR[state] },
          w.address,
          allocation(w, 'cpu'),
          allocation(w, 'memoryGb', ' GB'),
          allocation(w, 'storageGb', ' GB'),
          allocation(w, 'gpu'),
          String(w.taskIds.length),
          w.lastHeartbeat ? `${formatAge(w.lastHeartbeat, ctx.style.now)} ago` : '-',
        ];
      });
      print(
        formatTable(
          ['WORKER', 'STATE', 'ADDRESS', 'CPU', 'MEMORY', 'STORAGE', 'GPU', 'TASKS', 'LAST HEARTBEAT'],
          rows,
          ctx.style.colour,
        ),
      );
    });
}
