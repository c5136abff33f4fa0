import { EventEmitter, on } from 'node:events';
import { MAX_EVENT_MESSAGE_LENGTH, MAX_EVENT_REASON_LENGTH } from '@cloudai/domain';
import type { Logger } from '@cloudai/logger';
import type { EventQuery, EventRecord, NewEventRecord, Store } from '@cloudai/store';
import { eventsOfChange } from './change-events.js';
import { EventHorizon, type EventHorizonOptions } from './event-horizon.js';
import type { EventSink, NewEvent } from './event-sink.js';
import type { MasterEvents } from './events.js';

/** Events written per store call. */
const BATCH = 256;
/** Events waiting to be written beyond this are dropped (and counted): a stuck store must not grow the master without bound. */
const MAX_QUEUED = 10_000;
/** Events read from the store per page while following. */
const PAGE = 256;
/** Followers re-check the store at least this often, in case a wake-up was missed. */
const FOLLOW_RECHECK_MS = 1_000;

/**
 * The event log: components record what happened, a writer stores it in the
 * order recorded, and readers list or follow it. The operation being
 * recorded never waits for the store and never fails because of it: events
 * are queued, written in batches in the background, and a write that fails
 * is logged and counted (`failures`), never retried (a retry could store
 * part of a batch twice).
 */
export class EventLog implements EventSink {
  private readonly queue: NewEventRecord[] = [];
  private writing: Promise<void> | undefined;
  private failed = 0;
  /** bumped after every stored batch; followers wait for it to move */
  private generation = 0;
  private readonly stored = new EventEmitter().setMaxListeners(0);
  /** Aborted on shutdown: followers end their streams (clients resume after the restart). */
  private readonly closing = new AbortController();
  /** Readers see events up to it only, so no cursor moves past a seq that may still be stored. */
  private readonly horizon: EventHorizon;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    horizon: EventHorizonOptions = {},
  ) {
    this.horizon = new EventHorizon(store, horizon);
  }

  /** Events that could not be stored (the store failed, or too many were waiting). */
  get failures(): number {
    return this.failed;
  }

  record(event: NewEvent): void {
    try {
      if (this.queue.length >= MAX_QUEUED) {
        this.failed++;
        if (this.failed % 1000 === 1) this.log.error({ kind: event.kind, failures: this.failed }, 'event queue full; dropping events');
        return;
      }
      this.queue.push({
        time: new Date(),
        kind: event.kind,
        taskId: event.taskId ?? null,
        workerId: event.workerId ?? null,
        userId: event.userId ?? null,
        actor: event.actor ?? null,
        attempt: event.attempt ?? 0,
        message: clip(event.message, MAX_EVENT_MESSAGE_LENGTH),
        reason: clip(event.reason ?? '', MAX_EVENT_REASON_LENGTH),
      });
      this.writing ??= this.write().finally(() => {
        this.writing = undefined;
      });
    } catch (err) {
      // Whatever went wrong, the caller's operation goes on.
      this.failed++;
      this.log.error({ err, kind: event.kind }, 'could not record an event');
    }
  }

  /** Records every change on the master's change channel until `signal` aborts. */
  subscribe(changes: MasterEvents, signal: AbortSignal): void {
    changes.subscribe((change) => {
      for (const event of eventsOfChange(change)) this.record(event);
    }, signal);
  }

  /** Resolves once every event recorded so far has been written (or has failed). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Ends every follow stream; called before the server drains. */
  close(): void {
    this.closing.abort();
  }

  private async write(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      try {
        await this.store.appendEvents(batch);
        this.generation++;
        this.stored.emit('stored');
      } catch (err) {
        this.failed += batch.length;
        this.log.error({ err, events: batch.length, failures: this.failed }, 'could not store events');
      }
    }
  }

  /**
   * Matching events up to the settled horizon, and the cursor a follower
   * continues from: the last event's seq when more may match after it, else
   * the horizon (so an event stored meanwhile, or still on its way from
   * another master, is either in this answer or after the cursor). An event
   * stored past a missing seq shows once the gap fills or is given up on.
   */
  async list(query: EventQuery): Promise<{ events: EventRecord[]; cursor: number }> {
    const settled = await this.horizon.settled();
    const events = await this.store.listEvents({ ...query, throughSeq: settled });
    const last = events.at(-1)?.seq ?? 0;
    const more = !query.latest && events.length === query.limit;
    return { events, cursor: more ? last : Math.max(settled, query.afterSeq ?? 0) };
  }

  /**
   * Stored events after `query.afterSeq`, then new ones as they are stored,
   * until `signal` aborts or the log closes, each once and in seq order. The
   * first page is sent even when empty: it tells the follower the stream is
   * up. Events past a missing seq wait until it is stored or given up on
   * (EventHorizon); one stored after that is never sent.
   */
  async *follow(query: Omit<EventQuery, 'limit' | 'latest'>, signal: AbortSignal): AsyncGenerator<EventRecord[]> {
    const stop = AbortSignal.any([signal, this.closing.signal]);
    let after = query.afterSeq ?? 0;
    let first = true;
    while (!stop.aborted) {
      const seen = this.generation;
      const settled = await this.horizon.settled();
      const page = await this.store.listEvents({ ...query, afterSeq: after, throughSeq: settled, limit: PAGE });
      const full = page.length === PAGE;
      // Past a page that is not full every match up to the horizon was sent,
      // so a given-up seq stored late is never sent out of order.
      after = full ? page.at(-1)!.seq : Math.max(after, settled);
      if (page.length > 0 || first) {
        first = false;
        yield page;
        if (full) continue;
      }
      // A batch stored while the page was read is read at once, not after the recheck.
      if (this.generation === seen) await this.nextBatch(stop);
    }
  }

  private async nextBatch(signal: AbortSignal): Promise<void> {
    try {
      for await (const _ of on(this.stored, 'stored', { signal: AbortSignal.any([signal, AbortSignal.timeout(FOLLOW_RECHECK_MS)]) })) return;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  /** Removes events older than `before` (retention); returns how many. */
  async purgeBefore(before: Date): Promise<number> {
    const removed = await this.store.deleteEventsBefore(before);
    if (removed > 0) this.log.info({ removed, before }, 'events removed by retention');
    return removed;
  }
}

/** `text` cut to at most `max` UTF-16 units, never inside a surrogate pair, with "…" when cut. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
