import type { Event, EventFilter } from '@cloudai/proto';
import type { Command } from 'commander';
import { withEvents } from '../client.js';
import { contextOf, print } from '../context.js';
import { ExitCode } from '../errors.js';
import { followEvents } from '../event-follow.js';
import { eventJson, eventLine } from '../event-view.js';
import { writeAll } from '../log-output.js';
import { EventsOptions, parseOptions } from '../options.js';
import { printJson } from '../views.js';

/** Stored events shown before following, unless --limit says otherwise. */
const DEFAULT_LIMIT = 100;

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description("what happened to your tasks (admins: to every task, worker and user), oldest first")
    .option('--follow', 'keep printing new events as they happen (Ctrl-C to stop)')
    .option('--task <task-id>', "only this task's events")
    .option('--worker <worker-id>', "only events on this worker (for users: their tasks' events there)")
    .option('--since <when>', 'only events after a duration ago (30s, 10m, 2h, 1d) or an ISO time')
    .option('--limit <n>', `the latest N stored events (default ${DEFAULT_LIMIT}, at most 1000)`)
    .option('--json', 'one JSON object per event and line')
    .addHelpText(
      'after',
      '\nColumns: time (local), kind, the task (or worker, or user) it is about, and what\n' +
        'happened with its reason. --follow rides out master restarts of up to 60 s\n' +
        'without missing or repeating an event.',
    )
    .action(async (raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(EventsOptions(new Date()), raw);
      const ctx = contextOf(self);
      const filter: EventFilter = { taskId: opts.task ?? '', workerId: opts.worker ?? '', since: opts.since };
      const line = (e: Event) => (opts.json ? `${JSON.stringify(eventJson(e))}\n` : `${eventLine(e)}\n`);
      await withEvents(ctx.connection, async (client) => {
        const stored = await client.listEvents({ filter, afterSeq: 0, limit: opts.limit ?? DEFAULT_LIMIT, latest: true });
        if (!opts.follow) {
          if (opts.json) for (const e of stored.events) printJson(eventJson(e));
          else print(stored.events.length > 0 ? stored.events.map(eventLine).join('\n') : 'No events.');
          return;
        }
        // `cloudai events --follow | head` closes the pipe early; that ends the run, quietly.
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EPIPE') process.exit(ExitCode.OK);
          throw err;
        });
        for (const e of stored.events) await writeAll(process.stdout, line(e));
        await followEvents(client, {
          filter,
          after: stored.cursor,
          address: ctx.connection.address,
          // Runs until the user stops it.
          signal: new AbortController().signal,
          onEvents: async (events) => {
            for (const e of events) await writeAll(process.stdout, line(e));
          },
          onLost: () => writeAll(process.stderr, `warning: lost contact with the master at ${ctx.connection.address}; reconnecting\n`),
        });
      });
    });
}
