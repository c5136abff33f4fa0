import { statusFromProto, statusToProto, TASK_SORTS, taskJson, taskSortRequest, workerJson } from '@cloudai/rpc/client';
import { isTerminal, taskNameSchema } from '@cloudai/domain';
import type { Task } from '@cloudai/proto';
import { z } from 'zod';
import { ApiError } from './api-error.js';
import type { RequestContext, Route } from './context.js';
import { readJsonBody, sendJson } from './http-io.js';
import { warmLineIndex } from './log-pages.js';
import { parseQuery, queryBoolean, queryInt, querySince, queryStatuses } from './query.js';
import { submitRequestOf } from './submit-request.js';

const ListQuery = z.object({
  sort: z.enum(TASK_SORTS, { error: `sort must be one of ${TASK_SORTS.join(', ')}` }).optional(),
  status: queryStatuses.optional(),
  name: taskNameSchema('name').optional(),
  since: querySince.optional(),
  limit: queryInt('limit', 1, 1000).optional(),
  page_token: z.string().max(1000, { error: 'page_token must be at most 1000 characters' }).optional(),
  all_users: queryBoolean('all_users').optional(),
});

/** The task the master answered with; a reply without one is the master's failure. */
export function answeredTask(task: Task | undefined): Task {
  if (!task) throw new ApiError('internal', 'the master answered without a task');
  return task;
}

async function listTasks(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, ListQuery);
  const res = await ctx.master.tasks.listTasks(
    {
      statuses: (q.status ?? []).map(statusToProto),
      taskName: q.name ?? '',
      submittedAfter: q.since,
      limit: q.limit ?? 0,
      pageToken: q.page_token ?? '',
      allUsers: q.all_users ?? false,
      ...taskSortRequest(q.sort),
    },
    ctx.call(),
  );
  sendJson(ctx.res, 200, { tasks: res.tasks.map(taskJson), nextPageToken: res.nextPageToken || null });
}

async function submitTask(ctx: RequestContext): Promise<void> {
  const request = submitRequestOf(await readJsonBody(ctx.req));
  const res = await ctx.master.tasks.submitTask(request, ctx.call());
  const task = answeredTask(res.task);
  sendJson(ctx.res, 201, { task: taskJson(task) }, { location: `/api/v1/tasks/${encodeURIComponent(task.taskId)}` });
}

/** Logs at least this big have their lines counted as soon as their finished task is read. */
const WARM_INDEX_LOG_BYTES = 1024 * 1024;

async function getTask(ctx: RequestContext): Promise<void> {
  const res = await ctx.master.tasks.getTask({ taskId: ctx.params.id! }, ctx.call());
  const task = answeredTask(res.task);
  const status = statusFromProto(task.status);
  if (status && isTerminal(status) && task.logBytes >= WARM_INDEX_LOG_BYTES) warmLineIndex(ctx, task.taskId, task.logBytes);
  sendJson(ctx.res, 200, { task: taskJson(task) });
}

async function cancelTask(ctx: RequestContext): Promise<void> {
  const res = await ctx.master.tasks.cancelTask({ taskId: ctx.params.id!, reason: '' }, ctx.call());
  sendJson(ctx.res, 200, { task: taskJson(answeredTask(res.task)) });
}

const WorkersQuery = z.object({ include_lost: queryBoolean('include_lost').optional() });

async function listWorkers(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, WorkersQuery);
  const res = await ctx.master.tasks.listWorkers({ includeLost: q.include_lost ?? false }, ctx.call());
  sendJson(ctx.res, 200, { workers: res.workers.map(workerJson) });
}

export const TASK_ROUTES: Route[] = [
  { method: 'GET', path: '/tasks', auth: true, handler: listTasks },
  { method: 'POST', path: '/tasks', auth: true, handler: submitTask },
  { method: 'GET', path: '/tasks/{id}', auth: true, handler: getTask },
  { method: 'POST', path: '/tasks/{id}/cancel', auth: true, handler: cancelTask },
  { method: 'GET', path: '/workers', auth: true, handler: listWorkers },
];
