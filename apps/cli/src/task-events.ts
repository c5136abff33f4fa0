import { TASK_END_EVENT_KINDS } from '@cloudai/domain';
import type { Event } from '@cloudai/proto';
import { clientErrorKind, describeClientError } from '@cloudai/rpc/client';
import type { EventsClient } from './client.js';
import { followEvents } from './event-follow.js';
import { monitorEventLine } from './event-view.js';

/**
 * How long an event of a running task waits for the log to pass its time
 * before it is printed anyway: log lines reach the master in batches a
 * little after they were written, so an event printed at once could land
 * before output that happened first.
 */
const HOLD_MS = 500;
/** How long, once the log has ended, the task's last event may take to be stored. */
const END_WAIT_MS = 2_000;
/** Events read per ListEvents page. */
const PAGE = 1000;

const ENDS: readonly string[] = TASK_END_EVENT_KINDS;

/** What can go wrong with a task's events that is no reason to fail `monitor`: the log has the last word. */
const NO_EVENTS = new Set(['unimplemented', 'not-found', 'permission-denied']);

export interface TaskEventsOptions {
  taskId: string;
  since: Date | undefined;
  /** keep receiving events until the log ends (false: what is stored only) */
  follow: boolean;
  address: string;
  /** prints one line on stderr */
  print(line: string): Promise<void>;
}

/**
 * A task's events, printed between its log lines in time order for
 * `cloudai monitor`: each is printed before the first log chunk written
 * after it; for a running task, also once the log has been quiet for
 * HOLD_MS; and whatever is left when the log ends.
 */
export class TaskEvents {
  private pending: Event[] = [];
  private lastSeq = 0;
  private ended = false;
  private endSeen: () => void = () => {};
  private readonly endArrived = new Promise<void>((resolve) => {
    this.endSeen = resolve;
  });
  private timer: NodeJS.Timeout | undefined;
  /** prints are chained, so lines never interleave out of order */
  private printing: Promise<void> = Promise.resolve();
  private readonly following = new AbortController();
  private follower: Promise<void> = Promise.resolve();

  private constructor(
    private readonly client: EventsClient,
    private readonly opts: TaskEventsOptions,
  ) {}

  /**
   * The task's stored events, and (with follow) its new ones as they come;
   * undefined when the master has no events for it (an older master, or a
   * task it does not show: the log stream says why).
   */
  static async start(client: EventsClient, opts: TaskEventsOptions): Promise<TaskEvents | undefined> {
    const events = new TaskEvents(client, opts);
    const filter = { taskId: opts.taskId, workerId: '', since: opts.since };
    let cursor = 0;
    try {
      for (;;) {
        const page = await client.listEvents({ filter, afterSeq: cursor, limit: PAGE, latest: false });
        events.add(page.events);
        cursor = page.cursor;
        if (page.events.length < PAGE) break;
      }
    } catch (err) {
      if (NO_EVENTS.has(clientErrorKind(err))) return undefined;
      throw err;
    }
    if (opts.follow && !events.ended) events.follow(cursor);
    return events;
  }

  /** Before a log chunk written at `ts`: prints the events that happened first. */
  async before(ts: Date | undefined): Promise<void> {
    if (ts) {
      const due = this.pending.findIndex((e) => !e.time || e.time.getTime() > ts.getTime());
      await this.print(due < 0 ? this.pending.length : due);
    }
    this.arm();
  }

  /** The log has ended: waits briefly for the task's last event if it has not come yet, then prints all. */
  async finish(): Promise<void> {
    if (!this.ended && this.opts.follow) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.endArrived, new Promise<void>((r) => (timer = setTimeout(r, END_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.stop();
    await this.follower;
    await this.print(this.pending.length);
  }

  /** Stops following and holding events. */
  stop(): void {
    clearTimeout(this.timer);
    this.following.abort();
  }

  private add(events: readonly Event[]): void {
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      this.pending.push(e);
      if (ENDS.includes(e.kind)) {
        this.ended = true;
        this.endSeen();
      }
    }
  }

  private follow(after: number): void {
    this.follower = followEvents(this.client, {
      filter: { taskId: this.opts.taskId, workerId: '', since: this.opts.since },
      after,
      address: this.opts.address,
      signal: this.following.signal,
      onEvents: async (events) => {
        this.add(events);
        this.arm();
      },
    }).catch(async (err: unknown) => {
      // The log goes on without them; the user is told once.
      await this.opts.print(`warning: no more events of the task: ${describeClientError(err)}`);
    });
  }

  /** For a running task: print what is pending once the log has been quiet for HOLD_MS. */
  private arm(): void {
    if (this.ended || this.following.signal.aborted) return;
    clearTimeout(this.timer);
    if (this.pending.length === 0) return;
    this.timer = setTimeout(() => void this.print(this.pending.length), HOLD_MS);
    this.timer.unref();
  }

  /** Prints the first `n` pending events. */
  private print(n: number): Promise<void> {
    const due = this.pending.splice(0, n);
    this.printing = this.printing.then(async () => {
      for (const e of due) await this.opts.print(monitorEventLine(e));
    });
    return this.printing;
  }
}
