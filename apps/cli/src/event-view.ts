import type { Event } from '@cloudai/proto';
import { clean } from './format.js';

// How events print: one JSON object per line for scripts, one line each for people.

export { eventJson, type EventJson } from '@cloudai/rpc/client';

const pad = (n: number) => String(n).padStart(2, '0');

/** "12:00:01" in the terminal's time zone. */
function clock(d: Date | undefined): string {
  if (!d || Number.isNaN(d.getTime())) return '--:--:--';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "2025-01-01 12:00:01" in the terminal's time zone. */
function dateTime(d: Date | undefined): string {
  if (!d || Number.isNaN(d.getTime())) return '----------';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;
}

/** The message, and the reason when there is one. Text from the master, kept inert. */
function what(e: Event): string {
  return clean(e.reason ? `${e.message}: ${e.reason}` : e.message);
}

/** What an event is about: its task, else its worker, else its user. */
function subject(e: Event): string {
  if (e.taskId) return e.taskId;
  if (e.workerId) return `worker ${e.workerId}`;
  if (e.userId) return `user ${e.userId}`;
  return '-';
}

/** The longest kind the master records, so kinds line up. */
const KIND_WIDTH = 'task.cancelled_by_admin'.length;
/** A task id's length, so messages line up. */
const SUBJECT_WIDTH = 36;

/** One line of `cloudai events`: time, kind, what it is about, and what happened. */
export function eventLine(e: Event): string {
  return `${dateTime(e.time)}  ${clean(e.kind).padEnd(KIND_WIDTH)}  ${clean(subject(e)).padEnd(SUBJECT_WIDTH)}  ${what(e)}`;
}

/** A task's event as `cloudai monitor` prints it on stderr: "[cloudai] 12:00:01 scheduled on worker-2 (attempt 1)". */
export function monitorEventLine(e: Event): string {
  return `[cloudai] ${clock(e.time)} ${what(e)}`;
}
