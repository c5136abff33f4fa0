import { isTerminal } from '@cloudai/domain';
import type { TaskOutcome } from '@cloudai/proto';
import { logStreamFromProto, NO_DEADLINE, statusFromProto } from '@cloudai/rpc/client';
import { z } from 'zod';
import { badRequest } from './api-error.js';
import type { RequestContext, Route } from './context.js';
import { API_HEADERS, sendJson, writeAll } from './http-io.js';
import { lineIndexCache, readLinePage } from './log-pages.js';
import { protoStreams, scanLogLines, StopScan } from './log-scan.js';
import { parseQuery, queryBoolean, queryInt, querySince, streamName } from './query.js';
import { EventStream, lastEventId } from './sse.js';

const LogsQuery = z.object({
  tail: queryInt('tail', 1, 1_000_000).optional(),
  since: querySince.optional(),
  stream: streamName.optional(),
  follow: queryBoolean('follow').optional(),
  grep: z.string().min(1, { error: 'grep must not be empty' }).max(1000, { error: 'grep must be at most 1000 characters' }).optional(),
  limit: queryInt('limit', 1, 10_000).optional(),
  ignore_case: queryBoolean('ignore_case').optional(),
  download: queryBoolean('download').optional(),
  last_event_id: z.string().optional(),
});
type LogsQuery = z.output<typeof LogsQuery>;

const DEFAULT_GREP_LIMIT = 1000;

async function logs(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, LogsQuery);
  if (q.grep !== undefined) {
    if (q.follow) throw badRequest('follow', 'grep searches the stored log; it cannot be combined with follow');
    await grep(ctx, q, q.grep);
  } else if (q.follow) {
    await follow(ctx, q);
  } else {
    await text(ctx, q);
  }
}

/** The log's bytes as the task wrote them (both streams interleaved, or one), without cloudai's markers. */
async function text(ctx: RequestContext, q: LogsQuery): Promise<void> {
  const taskId = ctx.params.id!;
  const stream = ctx.master.tasks.streamLogs(
    { taskId, afterPosition: 0, follow: false, streams: protoStreams(q.stream), tailLines: q.tail ?? 0, since: q.since },
    ctx.call({ deadline: NO_DEADLINE }),
  );
  let started = false;
  // Headers go out with the first answer, so a missing task or a master that is down is still a JSON error.
  const start = () => {
    if (started) return;
    started = true;
    ctx.res.writeHead(200, {
      ...API_HEADERS,
      'content-type': 'text/plain; charset=utf-8',
      ...(q.download ? { 'content-disposition': `attachment; filename="${taskId.replace(/[^A-Za-z0-9._-]/g, '_')}.log"` } : {}),
    });
  };
  try {
    for await (const res of stream) {
      start();
      const entry = res.entry;
      if (!entry?.chunk || entry.marker) continue;
      if (!(await writeAll(ctx.res, entry.chunk.data))) return;
    }
  } catch (err) {
    // Once bytes are out the status cannot change: the cut-off body says it failed.
    if (!started) throw err;
    ctx.log.warn({ err, taskId }, 'log stream failed part-way');
    ctx.res.destroy();
    return;
  }
  start();
  ctx.res.end();
}

function endData(outcome: TaskOutcome): Record<string, unknown> {
  return {
    status: statusFromProto(outcome.status) ?? 'UNKNOWN',
    exitCode: outcome.exitCode ?? null,
    reason: outcome.reason,
    droppedBytes: outcome.droppedBytes,
    logBytes: outcome.logBytes,
    purged: outcome.purged,
  };
}

/**
 * Server-sent events of the log, live: `id` is the chunk's log position, so
 * a client that reconnects with Last-Event-ID continues after the last chunk
 * it got, with no gap and no repeat. Ends with one `end` event.
 */
async function follow(ctx: RequestContext, q: LogsQuery): Promise<void> {
  const taskId = ctx.params.id!;
  // Asked first so that a missing task (404) or a master that is down (503) is answered as JSON.
  await ctx.master.tasks.getTask({ taskId }, ctx.call());
  let after = lastEventId(ctx.req.headers['last-event-id'], ctx.url.searchParams);
  const events = new EventStream(ctx.res);
  // Per stream: a character split between two chunks is decoded whole.
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  try {
    const stream = ctx.master.tasks.streamLogs(
      { taskId, afterPosition: after, follow: true, streams: protoStreams(q.stream), tailLines: after === 0 ? (q.tail ?? 0) : 0, since: q.since },
      ctx.call({ deadline: NO_DEADLINE }),
    );
    for await (const res of stream) {
      if (res.outcome) {
        await events.send('end', endData(res.outcome));
        break;
      }
      const entry = res.entry;
      // A master that resends what was already sent must not duplicate it.
      if (!entry?.chunk || entry.position <= after) continue;
      after = entry.position;
      const name = logStreamFromProto(entry.chunk.stream) ?? 'stderr';
      const data = entry.marker
        ? { stream: 'stderr', text: Buffer.from(entry.chunk.data).toString('utf8'), marker: true }
        : { stream: name, text: decoders[name].decode(entry.chunk.data, { stream: true }) };
      if (!(await events.send('log', data, entry.position))) return;
    }
  } catch (err) {
    // The client went away, or the server is stopping: nothing to tell anyone.
    if (!ctx.signal.aborted) ctx.log.warn({ err, taskId }, 'log follow ended by a failure; the client resumes with Last-Event-ID');
  } finally {
    events.end();
  }
}

/** Searches the whole stored log on the server: a plain substring, line by line. */
async function grep(ctx: RequestContext, q: LogsQuery, needle: string): Promise<void> {
  const limit = q.limit ?? DEFAULT_GREP_LIMIT;
  const ignoreCase = q.ignore_case ?? false;
  const wanted = ignoreCase ? needle.toLowerCase() : needle;
  const bytes = Buffer.from(needle);
  const matches: { line: number; stream: string; text: string }[] = [];
  let truncated = false;
  // A chunk without the needle anywhere has no matching line: its lines are only counted (case-insensitive
  // matching decodes every line instead).
  const skipChunk = ignoreCase ? undefined : (chunk: Buffer) => !chunk.includes(bytes);
  await scanLogLines(ctx, { taskId: ctx.params.id!, stream: q.stream, skipChunk }, (line, stream, data) => {
    // Bytes are compared without decoding every line; only matches become text.
    const hit = ignoreCase ? data.toString('utf8').toLowerCase().includes(wanted) : data.includes(bytes);
    if (!hit) return;
    if (matches.length === limit) {
      truncated = true;
      throw new StopScan();
    }
    matches.push({ line, stream, text: data.toString('utf8') });
  });
  sendJson(ctx.res, 200, { matches, truncated });
}

const LinesQuery = z.object({
  start: queryInt('start', -100_000, 100_000_000).optional(),
  count: queryInt('count', 1, 5000).optional(),
});

/** A page of numbered lines, for a viewer that opens at the tail and loads pages as it scrolls. */
async function logLines(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, LinesQuery);
  const taskId = ctx.params.id!;
  const task = await ctx.master.tasks.getTask({ taskId }, ctx.call());
  const status = task.task ? statusFromProto(task.task.status) : undefined;
  const finished = status !== undefined && isTerminal(status);
  const page = await readLinePage(ctx, lineIndexCache, {
    taskId,
    finished,
    logBytes: task.task?.logBytes ?? 0,
    start: q.start ?? 1,
    count: q.count ?? 1000,
  });
  sendJson(ctx.res, 200, page);
}

export const LOG_ROUTES: Route[] = [
  { method: 'GET', path: '/tasks/{id}/logs', auth: true, handler: logs },
  { method: 'GET', path: '/tasks/{id}/log-lines', auth: true, handler: logLines },
];
