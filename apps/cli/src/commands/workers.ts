import { workerIdSchema } from '@cloudai/domain';
import type { Resources, Worker } from '@cloudai/proto';
import type { Command } from 'commander';
import { withMaster } from '../client.js';
import { contextOf, print } from '../context.js';
import { clean, formatAge, formatNumber, formatTable, type Cell, type Colour } from '../format.js';
import { parseOptions } from '../options.js';
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

/** What each state means for the tasks placed on the worker, after `drain` or `undrain`. */
const AFTER_DRAIN: Record<string, string> = {
  DRAINING: 'it gets no new tasks; the ones it runs carry on to the end',
  ALIVE: 'it takes new tasks again',
};

/** `workers drain` and `workers undrain`: the same call, one way or the other. */
function addDrainCommand(workers: Command, name: 'drain' | 'undrain'): void {
  const drain = name === 'drain';
  workers
    .command(name)
    .description(
      drain
        ? 'stop placing new tasks on a worker; the tasks it runs finish (admins only)'
        : 'let a drained worker take new tasks again (admins only)',
    )
    .argument('<worker-id>', 'the worker, as `cloudai workers` lists it')
    .option('--json', 'print the worker as JSON (the `workers --json` shape)')
    .action(async (workerId: string, _opts: unknown, self: Command) => {
      const id = parseOptions(workerIdSchema('<worker-id>'), workerId);
      // `workers` has a --json of its own, which commander gives it wherever it is typed.
      const opts = self.optsWithGlobals<{ json?: boolean }>();
      const ctx = contextOf(self);
      const { worker } = await withMaster(ctx.connection, (m) => m.client.drainWorker({ workerId: id, drain }));
      if (!worker) throw new Error('the master answered without a worker');
      if (opts.json) {
        printJson(workerJson(worker));
        return;
      }
      const state = workerState(worker);
      print(`Worker ${clean(worker.workerId)} is ${state}${AFTER_DRAIN[state] ? `: ${AFTER_DRAIN[state]}` : ''}`);
    });
}

export function registerWorkers(program: Command): void {
  const workers = program
    .command('workers')
    .description('list workers with their capacity, allocation and heartbeat; `workers drain|undrain` (admins)')
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
  addDrainCommand(workers, 'drain');
  addDrainCommand(workers, 'undrain');
}
