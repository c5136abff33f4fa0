import { eventJson, NO_DEADLINE } from '@cloudai/rpc/client';
import { z } from 'zod';
import type { RequestContext, Route } from './context.js';
import { parseQuery, querySince } from './query.js';
import { EventStream, lastEventId } from './sse.js';

const EventsQuery = z.object({
  task_id: z.string().max(200).optional(),
  worker_id: z.string().max(200).optional(),
  since: querySince.optional(),
  last_event_id: z.string().optional(),
});

/**
 * Server-sent events of what happens to the caller's tasks (all tasks for
 * an admin), from the master's event log: `id` is the event's seq, so a
 * client reconnecting with Last-Event-ID misses nothing and repeats nothing.
 * Without one the stream starts at the present.
 */
async function events(ctx: RequestContext): Promise<void> {
  const q = parseQuery(ctx.url, EventsQuery);
  const filter = { taskId: q.task_id ?? '', workerId: q.worker_id ?? '', since: q.since };
  let after = lastEventId(ctx.req.headers['last-event-id'], ctx.url.searchParams);
  if (after === 0 && !q.since) {
    // The head of the log, so only what happens from now on is sent (and a master that is down is a 503).
    const head = await ctx.master.events.listEvents({ filter, afterSeq: 0, limit: 1, latest: true }, ctx.call());
    after = head.cursor;
  } else {
    // Answers for a bad filter (another user's task) and a master that is down before the stream starts.
    await ctx.master.events.listEvents({ filter, afterSeq: after, limit: 1, latest: false }, ctx.call());
  }
  const stream = new EventStream(ctx.res);
  try {
    for await (const res of ctx.master.events.followEvents({ filter, afterSeq: after }, ctx.call({ deadline: NO_DEADLINE }))) {
      for (const event of res.events) {
        // A master that resends what was already sent must not duplicate it.
        if (event.seq <= after) continue;
        after = event.seq;
        if (!(await stream.send('event', eventJson(event), event.seq))) return;
      }
    }
  } catch (err) {
    if (!ctx.signal.aborted) ctx.log.warn({ err }, 'event stream ended by a failure; the client resumes with Last-Event-ID');
  } finally {
    stream.end();
  }
}

export const EVENT_ROUTES: Route[] = [{ method: 'GET', path: '/events', auth: true, handler: events }];
