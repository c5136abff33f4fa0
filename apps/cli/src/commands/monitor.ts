import { isTerminal } from '@cloudai/domain';
import { LogStream, type LogEntry, type TaskOutcome } from '@cloudai/proto';
import { isConnectionLoss, logStreamFromProto, NO_DEADLINE, statusFromProto } from '@cloudai/rpc';
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { withMaster, type Master } from '../client.js';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { clean, formatBytes } from '../format.js';
import { LogPrinter } from '../log-output.js';
import { MonitorOptions, parseOptions } from '../options.js';

/** How long the master may stay unreachable, once reached, before `monitor` gives up. */
const OUTAGE_GRACE_MS = 60_000;
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;

export interface MonitorPlan {
  taskId: string;
  follow: boolean;
  /** empty = both */
  streams: LogStream[];
  /** 0 = everything stored */
  tailLines: number;
  since: Date | undefined;
  timestamps: boolean;
  /**
   * Whether the master has already answered this run (as after `task
   * --follow` submitted). Until it has, an unreachable master is a wrong
   * address and fails at once rather than being waited out.
   */
  reached: boolean;
}

function closingLine(taskId: string, outcome: TaskOutcome): string {
  const status = statusFromProto(outcome.status) ?? 'UNKNOWN';
  const exit = outcome.exitCode === undefined ? '' : ` exit ${outcome.exitCode}`;
  const id = clean(taskId);
  if (outcome.purged) return `--- ${id}: log removed by retention; task ended ${status}${exit}`;
  if (status !== 'UNKNOWN' && !isTerminal(status)) {
    return `--- ${id} is still ${status} (${formatBytes(outcome.logBytes)} of log so far)`;
  }
  const dropped = outcome.droppedBytes > 0 ? `, ${outcome.droppedBytes} bytes dropped` : '';
  const reason = status !== 'SUCCEEDED' && outcome.reason ? `: ${clean(outcome.reason)}` : '';
  return `--- ${id} ${status}${exit} (${formatBytes(outcome.logBytes)} of log${dropped})${reason}`;
}

/** A still-running task (only seen without follow) is not a failure; every ending but SUCCEEDED is. */
function exitCodeOf(outcome: TaskOutcome): ExitCode {
  const status = statusFromProto(outcome.status);
  if (status === 'SUCCEEDED') return ExitCode.OK;
  if (status !== undefined && !isTerminal(status)) return ExitCode.OK;
  return ExitCode.FAILED;
}

async function printEntry(printer: LogPrinter, entry: LogEntry): Promise<void> {
  const chunk = entry.chunk;
  if (!chunk) return;
  if (entry.marker) {
    // cloudai's own text, but it reaches the terminal: keep it inert.
    await printer.notice(
      Buffer.from(chunk.data)
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map(clean)
        .join('\n'),
    );
    return;
  }
  // A stream this CLI does not know goes to stderr, where it cannot corrupt piped stdout.
  await printer.chunk(logStreamFromProto(chunk.stream) ?? 'stderr', chunk.data, chunk.ts);
}

/**
 * Prints a task's log and, with follow, keeps printing until the task ends;
 * returns the exit code the task's outcome calls for. A dropped stream is
 * resumed after the last position printed, so nothing is missed or repeated.
 */
export async function monitorTask(m: Master, plan: MonitorPlan): Promise<ExitCode> {
  // `cloudai monitor x | head` closes the pipe early; that ends the run, quietly, as it does for cat.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.OK);
    throw err;
  });
  const printer = new LogPrinter(process.stdout, process.stderr, plan.timestamps);
  let reached = plan.reached;
  let lastPosition = 0;
  let outageSince: number | undefined;
  let warned = false;
  let retryMs = FIRST_RETRY_MS;
  let lastError: unknown;
  for (;;) {
    const request = {
      taskId: plan.taskId,
      afterPosition: lastPosition,
      follow: plan.follow,
      streams: plan.streams,
      // Once something is printed, a resumed stream must continue from it, not re-tail.
      tailLines: lastPosition === 0 ? plan.tailLines : 0,
      since: plan.since,
    };
    try {
      // A followed log lasts as long as the task: no deadline.
      for await (const res of m.client.streamLogs(request, { deadline: NO_DEADLINE })) {
        reached = true;
        outageSince = undefined;
        warned = false;
        retryMs = FIRST_RETRY_MS;
        if (res.outcome) {
          await printer.notice(closingLine(plan.taskId, res.outcome));
          return exitCodeOf(res.outcome);
        }
        const entry = res.entry;
        // A master that resends what was already printed must not duplicate it.
        if (!entry || entry.position <= lastPosition) continue;
        await printEntry(printer, entry);
        lastPosition = entry.position;
      }
      // Without follow, a running task's log simply ends here.
      if (!plan.follow) return ExitCode.OK;
      // With follow the master ended the stream early (a graceful restart): resume.
      lastError = undefined;
    } catch (err) {
      // A master restart reaches a follower as UNAVAILABLE (refused, dropped)
      // or CANCELLED (a forced shutdown); the CLI never cancels its own call.
      if (!reached || !isConnectionLoss(err)) throw err;
      lastError = err;
    }
    outageSince ??= Date.now();
    if (!warned) {
      warned = true;
      await printer.notice(`warning: lost contact with the master at ${m.address}; reconnecting`);
    }
    if (Date.now() - outageSince > OUTAGE_GRACE_MS) {
      if (lastError !== undefined) throw lastError;
      throw new CliError(`the master at ${m.address} kept ending the log stream early; giving up`, ExitCode.UNREACHABLE);
    }
    await sleep(retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  }
}

/** The streams to ask for; both flags, like neither, mean both. */
export function streamsOf(opts: { stdout: boolean; stderr: boolean }): LogStream[] {
  const streams: LogStream[] = [];
  if (opts.stdout) streams.push(LogStream.LOG_STREAM_STDOUT);
  if (opts.stderr) streams.push(LogStream.LOG_STREAM_STDERR);
  return streams;
}

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .alias('logs')
    .description("print a task's log; follow it while the task runs, then print how it ended")
    .argument('<task-id>', 'the id `cloudai task` printed')
    .option('--no-follow', 'print what is stored and stop, even if the task is still running')
    .option('--tail <lines>', 'start with only the last N lines')
    .option('--since <when>', 'skip output older than a duration (30s, 10m, 2h, 1d) or an ISO time')
    .option('--stdout', "only the task's stdout")
    .option('--stderr', "only the task's stderr")
    .option('--timestamps', "put each line's time (ISO 8601, UTC) in front of it")
    .addHelpText(
      'after',
      "\nThe task's stdout goes to stdout and its stderr to stderr, byte for byte (except\n" +
        "with --timestamps). cloudai's own lines (markers, warnings, the closing line) go\n" +
        'to stderr. Exit code: 0 if the task SUCCEEDED (or is still running, with\n' +
        '--no-follow), 1 if it ended otherwise.',
    )
    .action(async (taskId: string, raw: Record<string, unknown>, self: Command) => {
      const opts = parseOptions(MonitorOptions(new Date()), { ...raw, taskId });
      const ctx = contextOf(self);
      const plan: MonitorPlan = {
        taskId: opts.taskId,
        follow: opts.follow,
        streams: streamsOf(opts),
        tailLines: opts.tail ?? 0,
        since: opts.since,
        timestamps: opts.timestamps,
        reached: false,
      };
      process.exitCode = await withMaster(ctx.connection, (m) => monitorTask(m, plan));
    });
}
