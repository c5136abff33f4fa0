import type { Resources as ProtoResources, Task } from '@cloudai/proto';
import {
  clean,
  colorStatus,
  formatBytes,
  formatDuration,
  formatKeyValues,
  formatNumber,
  formatTimestamp,
  shellQuote,
} from './format.js';
import { taskStatus } from './views.js';

// Human renderings of tasks, shared by the commands that print them.

/** Printed under every new token the CLI shows: the master keeps only its hash. */
export const SHOWN_ONCE = 'Save this token now: it will not be shown again.';

/** Whether stdout should get colour right now. */
export interface Style {
  colour: boolean;
  now: Date;
}

function commandText(task: Task): string {
  const argv = task.spec?.command ?? [];
  return argv.length === 0 ? '(image default)' : clean(shellQuote(argv));
}

function dimension(value: number | undefined, unit: string): string {
  return value === undefined ? '-' : `${formatNumber(value)}${unit}`;
}

function resourceLines(r: ProtoResources | undefined): [string, string][] {
  return [
    ['CPU', dimension(r?.cpu, r?.cpu === 1 ? ' core' : ' cores')],
    ['Memory', dimension(r?.memoryGb, ' GB')],
    ['Storage', dimension(r?.storageGb, ' GB')],
    ['GPU', dimension(r?.gpu, '')],
  ];
}

/** The summary `task` and `dispatch` print, in the spirit of the original CLI's. */
export function renderSubmitted(task: Task, style: Style): string {
  const head: [string, string][] = [
    ['Task ID', clean(task.taskId)],
    ['Task Name', clean(task.taskName)],
    ['Image', clean(task.spec?.image ?? '')],
    ['Command', commandText(task)],
  ];
  if (task.pinnedWorkerId) head.push(['Worker', clean(task.pinnedWorkerId)]);
  head.push(['Submitted At', formatTimestamp(task.submittedAt)], ['Resources', '']);
  const resources = resourceLines(task.spec?.resources).map(([k, v]): [string, string] => [`  ${k}`, v]);
  return formatKeyValues([...head, ...resources, ['Status', colorStatus(taskStatus(task), style.colour)]]);
}

/** How long the task ran, or has been running. */
export function taskDuration(task: Task, now: Date): string {
  if (!task.startedAt) return '-';
  if (task.finishedAt) return formatDuration(task.finishedAt.getTime() - task.startedAt.getTime());
  return `${formatDuration(now.getTime() - task.startedAt.getTime())} (still running)`;
}

/** `cloudai status`: every field a user asks about, one per line. */
export function renderTaskDetails(task: Task, style: Style): string {
  const spec = task.spec;
  const pairs: [string, string][] = [
    ['Task ID', clean(task.taskId)],
    ['Task Name', clean(task.taskName)],
    ['User', clean(task.userId) || '-'],
    ['Image', clean(spec?.image ?? '')],
    ['Command', commandText(task)],
    ['Status', colorStatus(taskStatus(task), style.colour)],
    ['Reason', clean(task.reason) || '-'],
    ['Exit Code', task.exitCode === undefined ? '-' : String(task.exitCode)],
    ['Worker', clean(task.workerId) || '-'],
  ];
  if (task.pinnedWorkerId) pairs.push(['Pinned To', clean(task.pinnedWorkerId)]);
  pairs.push(
    ['Attempt', String(task.attempt)],
    [
      'Resources',
      resourceLines(spec?.resources)
        .map(([k, v]) => `${k.toLowerCase()} ${v}`)
        .join(', '),
    ],
    ['Timeout', spec?.timeoutSeconds ? formatDuration(spec.timeoutSeconds * 1000) : 'none'],
    ['Submitted At', formatTimestamp(task.submittedAt)],
    ['Started At', formatTimestamp(task.startedAt)],
    ['Finished At', formatTimestamp(task.finishedAt)],
    ['Duration', taskDuration(task, style.now)],
    [
      'Output Files',
      task.outputFiles.length === 0 ? '-' : `${task.outputFiles.length} (${formatBytes(task.outputBytes)})`,
    ],
  );
  const lines = [formatKeyValues(pairs)];
  // The list itself, up to a screenful; `cloudai files` shows any number.
  const shown = task.outputFiles.slice(0, MAX_LISTED_FILES);
  for (const f of shown) lines.push(`  ${clean(f.path)}  ${formatBytes(f.size)}`);
  if (task.outputFiles.length > shown.length) {
    lines.push(`  … and ${task.outputFiles.length - shown.length} more (cloudai files ${clean(task.taskId)})`);
  }
  return lines.join('\n');
}

const MAX_LISTED_FILES = 20;

/** One line a script can parse: "<task-id> <STATUS> [exit <n>] [: <reason>]". */
export function renderStatusLine(task: Task, style: Style): string {
  const status = taskStatus(task);
  let line = `${clean(task.taskId)} ${colorStatus(status, style.colour)}`;
  if (task.exitCode !== undefined) line += ` exit ${task.exitCode}`;
  if (status !== 'SUCCEEDED' && task.reason) line += `: ${clean(task.reason)}`;
  return line;
}
