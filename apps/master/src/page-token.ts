import { TASK_STATUSES, type TaskStatus } from '@cloudai/domain';
import { invalidArgument } from '@cloudai/rpc';
import type { TaskCursor, TaskOrder } from '@cloudai/store';

/** The order a token was made for: a token read under another order would skip or repeat tasks. */
function orderTag(order: TaskOrder): string {
  return `${order.key}:${order.ascending ? 'asc' : 'desc'}`;
}

/** Opaque keyset cursor for ListTasks: the last task of the previous page, in the order of its list. */
export function encodePageToken(order: TaskOrder, last: TaskCursor): string {
  const token = { o: orderTag(order), s: last.submittedAt.getTime(), t: last.taskId, n: last.taskName, u: last.status };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

export function decodePageToken(token: string, order: TaskOrder): TaskCursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  const t = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const submittedAt = new Date(typeof t.s === 'number' ? t.s : Number.NaN);
  const valid =
    typeof t.o === 'string' &&
    typeof t.t === 'string' && t.t.length <= 64 &&
    typeof t.n === 'string' && t.n.length <= 256 &&
    TASK_STATUSES.includes(t.u as TaskStatus) &&
    !Number.isNaN(submittedAt.getTime());
  if (!valid) throw invalidArgument('page_token is not a token returned by ListTasks');
  if (t.o !== orderTag(order)) throw invalidArgument('page_token was made for another sort order (sort_by, ascending)');
  return { submittedAt, taskId: t.t as string, taskName: t.n as string, status: t.u as TaskStatus };
}
