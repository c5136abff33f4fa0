import { DEFAULT_RESOURCES } from '@cloudai/domain';
import type { Resources, Task, TaskSpec } from '@cloudai/proto';
import type { Command } from 'commander';
import { withMaster, type Master } from '../client.js';
import { contextOf, print, type Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { clean } from '../format.js';
import { collect, parseOptions, SubmitOptions } from '../options.js';
import { renderSubmitted, type Style } from '../render.js';
import { printJson } from '../views.js';
import { monitorTask } from './monitor.js';

/** The options `task` and `dispatch` share. */
export function addSubmitOptions(cmd: Command): Command {
  const d = DEFAULT_RESOURCES;
  const inherited = cmd.configureOutput().outputError;
  return cmd
    .configureOutput({
      // `cloudai task alpine sh -c 'x'` fails on -c; say how to pass a command.
      outputError: (text, write) => {
        const hinted = text.startsWith('error: unknown option')
          ? `${text.trimEnd()} (put the container command after --)\n`
          : text;
        if (inherited) inherited(hinted, write);
        else write(hinted);
      },
    })
    .option('--name <name>', 'task name (default: <image-basename>-<unix time>)')
    .option('--cpu <cores>', `CPU cores, fractions allowed (default: ${d.cpu})`)
    .option('--mem <gb>', `memory in GB (default: ${d.memoryGb})`)
    .option('--storage <gb>', `output/scratch disk in GB (default: ${d.storageGb})`)
    .option('--gpu <count>', `whole GPUs (default: ${d.gpu})`)
    .option('--env <KEY=VALUE>', 'environment variable for the container; repeatable', collect)
    .option('--timeout <seconds>', 'stop the task after this many seconds (default: no limit)')
    .option(
      '--network',
      'give the container network access; only workers started with WORKER_ALLOW_NETWORK=true run it, ' +
        'others fail it with a reason saying so (default: no network)',
    )
    .option(
      '--idempotency-key <key>',
      'submitting again with the same key answers with the task the first submission made, ' +
        'instead of a new one (1-128 printable ASCII characters, no spaces)',
    )
    .option('--json', 'print {"taskId","taskName"} as JSON')
    .option('--follow', 'then print the task\'s log as it runs, like `cloudai monitor`; exit code as monitor')
    .addHelpText(
      'after',
      '\nEverything after -- is the container command, passed exactly as typed:\n' +
        `  cloudai ${cmd.name()}${cmd.name() === 'dispatch' ? ' worker-1' : ''} alpine:3.20 --cpu 2 -- sh -c 'echo hi > /output/hi.txt'`,
    );
}

/** Validated options as the request's TaskSpec. Unset resources stay unset so the master applies its defaults. */
export function specFromOptions(
  image: string,
  command: string[],
  raw: Record<string, unknown>,
): { spec: TaskSpec; idempotencyKey: string; json: boolean; follow: boolean } {
  const o = parseOptions(SubmitOptions, { ...raw, image, command });
  const resources: Resources = {};
  if (o.cpu !== undefined) resources.cpu = o.cpu;
  if (o.mem !== undefined) resources.memoryGb = o.mem;
  if (o.storage !== undefined) resources.storageGb = o.storage;
  if (o.gpu !== undefined) resources.gpu = o.gpu;
  const spec: TaskSpec = {
    image: o.image,
    command: o.command,
    env: Object.fromEntries(o.env),
    resources,
    taskName: o.name ?? '',
    timeoutSeconds: o.timeout ?? 0,
    network: o.network,
  };
  // Empty: no key, a new task every time.
  return { spec, idempotencyKey: o.idempotencyKey ?? '', json: o.json, follow: o.follow };
}

/** The task the master answered is the one this spec would have made (image, command and any name given). */
function sameSubmission(spec: TaskSpec, task: Task): boolean {
  return (
    spec.image === task.spec?.image &&
    JSON.stringify(spec.command) === JSON.stringify(task.spec.command) &&
    (spec.taskName === '' || spec.taskName === task.taskName)
  );
}

export function printSubmitted(task: Task | undefined, json: boolean, style: Style): void {
  if (!task) throw new Error('the master answered without a task');
  if (json) printJson({ taskId: task.taskId, taskName: task.taskName });
  else print(renderSubmitted(task, style));
}

/**
 * Submits with `submit`, then either prints the summary or, with --follow,
 * one line on stderr (stdout is the task's own) and the task's log until it
 * ends. Returns the exit code.
 */
export async function submitAndMaybeFollow(
  ctx: Context,
  options: { json: boolean; follow: boolean; spec: TaskSpec; idempotencyKey: string },
  submit: (m: Master) => Promise<Task | undefined>,
): Promise<ExitCode> {
  return withMaster(ctx.connection, async (m) => {
    const task = await submit(m);
    if (task && options.idempotencyKey && !sameSubmission(options.spec, task)) {
      process.stderr.write(
        `warning: --idempotency-key ${JSON.stringify(options.idempotencyKey)} was already used for task ${clean(task.taskId)} ` +
          `(${clean(task.taskName)}, ${clean(task.spec?.image ?? '')}), which is answered instead; nothing new was submitted\n`,
      );
    }
    if (!options.follow) {
      printSubmitted(task, options.json, ctx.style);
      return ExitCode.OK;
    }
    if (!task) throw new Error('the master answered without a task');
    process.stderr.write(`Task ${clean(task.taskId)} (${clean(task.taskName)}) submitted\n`);
    return monitorTask(m, {
      taskId: task.taskId,
      follow: true,
      streams: [],
      tailLines: 0,
      since: undefined,
      timestamps: false,
      reached: true,
    });
  });
}

export function registerTask(program: Command): void {
  const cmd = program
    .command('task')
    .description('submit a task to run on any worker with room for it')
    .usage('<image> [options] [-- command args...]')
    .argument('<image>', 'Docker image, e.g. alpine:3.20')
    .argument('[command...]', 'container command (put it after --)');
  addSubmitOptions(cmd).action(async (image: string, command: string[], opts: Record<string, unknown>, self: Command) => {
    const { spec, idempotencyKey, json, follow } = specFromOptions(image, command, opts);
    const ctx = contextOf(self);
    process.exitCode = await submitAndMaybeFollow(ctx, { json, follow, spec, idempotencyKey }, async (m) => {
      const res = await m.client.submitTask({ spec, idempotencyKey });
      return res.task;
    });
  });
}
