import { isTerminal } from '@cloudai/domain';
import type { Task } from '@cloudai/proto';
import { isConnectionLoss } from '@cloudai/rpc/client';
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { withMaster, type Master } from '../client.js';
import { contextOf, print } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { parseOptions, WaitOptions } from '../options.js';
import { renderStatusLine } from '../render.js';
import { printJson, taskJson, taskStatus } from '../views.js';

const POLL_INTERVAL_MS = 250;
/** Per-poll deadline: a hung call must not stall the loop past a restart. */
const POLL_DEADLINE_MS = 5_000;
/** How long the master may stay unreachable, once reached, before `wait` gives up. */
const OUTAGE_GRACE_MS = 60_000;

interface WaitPlan {
  taskId: string;
  /** epoch ms after which `wait` stops, if --timeout was given */
  giveUpAt: number | undefined;
  timeoutSeconds: number | undefined;
  onOutage: () => void;
}

/**
 * Polls until the task reaches a terminal status. The first call must reach
 * the master (a wrong address should fail at once); after that, outages up to
 * OUTAGE_GRACE_MS are ridden out, as when the master restarts.
 */
async function pollUntilDone(m: Master, plan: WaitPlan): Promise<Task> {
  let reached = false;
  let outageSince: number | undefined;
  let last: Task | undefined;
  for (;;) {
    const now = Date.now();
    const budget = plan.giveUpAt === undefined ? POLL_DEADLINE_MS : Math.max(1, Math.min(POLL_DEADLINE_MS, plan.giveUpAt - now));
    try {
      const res = await m.client.getTask({ taskId: plan.taskId }, { deadline: new Date(now + budget) });
      if (!res.task) throw new Error('the master answered without a task');
      reached = true;
      outageSince = undefined;
      last = res.task;
      const status = taskStatus(last);
      if (status !== 'UNKNOWN' && isTerminal(status)) return last;
    } catch (err) {
      const outOfTime = plan.giveUpAt !== undefined && Date.now() >= plan.giveUpAt;
      if (!reached || !isConnectionLoss(err)) throw err;
      // A poll cut short by our own --timeout is not an outage.
      if (!outOfTime) {
        outageSince ??= now;
        plan.onOutage();
        if (Date.now() - outageSince > OUTAGE_GRACE_MS) throw err;
      }
    }
    if (plan.giveUpAt !== undefined && Date.now() >= plan.giveUpAt) {
      const state = last ? taskStatus(last) : 'unknown';
      throw new CliError(
        `gave up waiting for ${plan.taskId} after ${plan.timeoutSeconds}s; it is still ${state}`,
        ExitCode.WAIT_TIMEOUT,
      );
    }
    const pause = plan.giveUpAt === undefined ? POLL_INTERVAL_MS : Math.min(POLL_INTERVAL_MS, Math.max(0, plan.giveUpAt - Date.now()));
    await sleep(pause);
  }
}

export function registerWait(program: Command): void {
  program
    .command('wait')
    .description('wait until a task finishes; exit 0 only if it SUCCEEDED')
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--timeout <seconds>', 'give up after this many seconds (exit code 4)')
    .option('--json', 'print the finished task as JSON')
    .action(async (taskId: string, raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(WaitOptions, { ...raw, taskId });
      const ctx = contextOf(self);
      let warned = false;
      const plan: WaitPlan = {
        taskId: opts.taskId,
        giveUpAt: opts.timeout === undefined ? undefined : Date.now() + opts.timeout * 1000,
        timeoutSeconds: opts.timeout,
        onOutage: () => {
          if (warned) return;
          warned = true;
          process.stderr.write(`warning: lost contact with the master at ${ctx.connection.address}; retrying\n`);
        },
      };
      const task = await withMaster(ctx.connection, (m) => pollUntilDone(m, plan));
      if (opts.json) printJson(taskJson(task));
      else print(renderStatusLine(task, ctx.style));
      if (taskStatus(task) !== 'SUCCEEDED') process.exitCode = ExitCode.FAILED;
    });
}
