import type { Event, EventFilter, EventServiceImplementation } from '@cloudai/proto';
import { invalidArgument } from '@cloudai/rpc';
import type { EventQuery, EventRecord } from '@cloudai/store';
import type { AuthContext } from './auth/principal.js';
import { userOf } from './caller.js';
import type { EventLog } from './event-log.js';
import type { TaskManager } from './task-manager.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function eventToProto(e: EventRecord): Event {
  return {
    seq: e.seq,
    time: e.time,
    kind: e.kind,
    taskId: e.taskId ?? '',
    workerId: e.workerId ?? '',
    userId: e.userId ?? '',
    actor: e.actor ?? '',
    attempt: e.attempt,
    message: e.message,
    reason: e.reason,
  };
}

function optionalId(value: string, field: string): string | undefined {
  if (value.length > 128) throw invalidArgument(`${field} must be at most 128 characters`);
  return value || undefined;
}

/**
 * The events API. What a caller may see is decided here: an admin sees
 * every event; a user only their own tasks' events, and asking for another
 * user's task answers NOT_FOUND exactly as GetTask does (a worker filter
 * then narrows their tasks' events to those on that worker).
 */
export function eventService(events: EventLog, tasks: TaskManager): EventServiceImplementation<AuthContext> {
  async function scope(filter: EventFilter | undefined, context: AuthContext): Promise<Omit<EventQuery, 'limit'>> {
    const caller = userOf(context);
    const taskId = optionalId(filter?.taskId ?? '', 'filter.task_id');
    const workerId = optionalId(filter?.workerId ?? '', 'filter.worker_id');
    if (taskId !== undefined) await tasks.get(caller, taskId);
    return {
      taskId,
      workerId,
      since: filter?.since,
      taskOwner: caller.role === 'admin' ? undefined : caller.userName,
    };
  }

  return {
    async listEvents(req, context) {
      if (req.limit > MAX_LIMIT) throw invalidArgument(`limit must be <= ${MAX_LIMIT}, got ${req.limit}`);
      const query = await scope(req.filter, context);
      const found = await events.list({ ...query, afterSeq: req.afterSeq, latest: req.latest, limit: req.limit || DEFAULT_LIMIT });
      return { events: found.events.map(eventToProto), cursor: found.cursor };
    },

    async *followEvents(req, context) {
      const query = await scope(req.filter, context);
      for await (const page of events.follow({ ...query, afterSeq: req.afterSeq }, context.signal)) {
        yield { events: page.map(eventToProto) };
      }
    },
  };
}
