import { isTerminal } from '@cloudai/domain';
import { LogStream, type LogEntry, type TaskOutcome } from '@cloudai/proto';
import { isConnectionLoss, logStreamFromProto, NO_DEADLINE, statusFromProto } from '@cloudai/rpc/client';
import type { Command } from 'commander';
import { withEvents, withMaster, type EventsClient, type Master } from '../client.js';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { clean, formatBytes } from '../format.js';
import { LogPrinter } from '../log-output.js';
import { MonitorOptions, parseOptions } from '../options.js';
import { Outage } from '../outage.js';
import { TaskEvents } from '../task-events.js';


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
  /** print the task's events on stderr between its log lines (default: when an events client is given) */
  events?: boolean;
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
 * With `events`, the task's events are printed on stderr, in time with the log.
 */
export async function monitorTask(m: Master, plan: MonitorPlan, events?: EventsClient): Promise<ExitCode> {
  // `cloudai monitor x | head` closes the pipe early; that ends the run, quietly, as it does for cat.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.OK);
    throw err;
  });
  const printer = new LogPrinter(process.stdout, process.stderr, plan.timestamps);
  const taskEvents =
    events && plan.events !== false
      ? await TaskEvents.start(events, {
          taskId: plan.taskId,
          since: plan.since,
          follow: plan.follow,
          address: m.address,
          print: (line) => printer.notice(line),
        })
      : undefined;
  try {
    return await followLog(m, plan, printer, taskEvents);
  } finally {
    taskEvents?.stop();
  }
}

async function followLog(m: Master, plan: MonitorPlan, printer: LogPrinter, taskEvents: TaskEvents | undefined): Promise<ExitCode> {
  let reached = plan.reached;
  let lastPosition = 0;
  const outage = new Outage();
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
        outage.over();
        if (res.outcome) {
          await taskEvents?.finish();
          await printer.notice(closingLine(plan.taskId, res.outcome));
          return exitCodeOf(res.outcome);
        }
        const entry = res.entry;
        // A master that resends what was already printed must not duplicate it.
        if (!entry || entry.position <= lastPosition) continue;
        await taskEvents?.before(entry.chunk?.ts);
        await printEntry(printer, entry);
        lastPosition = entry.position;
      }
      // Without follow, a running task's log simply ends here.
      if (!plan.follow) {
        await taskEvents?.finish();
        return ExitCode.OK;
      }
      // With follow the master ended the stream early (a graceful restart): resume.
      lastError = undefined;
    } catch (err) {
      // A master restart reaches a follower as UNAVAILABLE (refused, dropped)
      // or CANCELLED (a forced shutdown); the CLI never cancels its own call.
      if (!reached || !isConnectionLoss(err)) throw err;
      lastError = err;
    }
    if (outage.begin()) await printer.notice(`warning: lost contact with the master at ${m.address}; reconnecting`);
    if (outage.expired) {
      if (lastError !== undefined) throw lastError;
      throw new CliError(`the master at ${m.address} kept ending the log stream early; giving up`, ExitCode.UNREACHABLE);
    }
    await outage.pause();
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
    .option('--no-events', "do not print the task's events (scheduled, started, uploading...) on stderr")
    .addHelpText(
      'after',
      "\nThe task's stdout goes to stdout and its stderr to stderr, byte for byte (except\n" +
        "with --timestamps). cloudai's own lines (the task's events, markers, warnings,\n" +
        'the closing line) go to stderr. Exit code: 0 if the task SUCCEEDED (or is still\n' +
        'running, with --no-follow), 1 if it ended otherwise.',
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
        events: opts.events,
      };
      process.exitCode = await withMaster(ctx.connection, (m) =>
        withEvents(ctx.connection, (events) => monitorTask(m, plan, events)),
      );
    });
}
