import type { Event, EventFilter } from '@cloudai/proto';
import { isConnectionLoss, NO_DEADLINE } from '@cloudai/rpc/client';
import type { EventsClient } from './client.js';
import { CliError, ExitCode } from './errors.js';
import { Outage } from './outage.js';

export interface FollowOptions {
  filter: EventFilter;
  /** only events after this seq: the cursor ListEvents answered, or the last seq printed */
  after: number;
  /** where the master is, for the message when it stays away */
  address: string;
  signal: AbortSignal;
  onEvents(events: Event[]): Promise<void>;
  /** called once per outage, when the stream is lost (the caller may tell the user) */
  onLost?(): Promise<void>;
}

/**
 * Follows events until `signal` aborts. A stream cut off (a master restart)
 * is resumed after the last seq received, so nothing is missed or repeated;
 * an outage longer than OUTAGE_GRACE_MS throws the last error, and any other
 * failure is thrown at once.
 */
export async function followEvents(client: EventsClient, opts: FollowOptions): Promise<void> {
  let after = opts.after;
  const outage = new Outage();
  let lastError: unknown;
  while (!opts.signal.aborted) {
    try {
      // A follow lasts as long as the user wants: no deadline.
      const stream = client.followEvents({ filter: opts.filter, afterSeq: after }, { deadline: NO_DEADLINE, signal: opts.signal });
      for await (const res of stream) {
        outage.over();
        // A master that resends what was already received must not duplicate it.
        const fresh = res.events.filter((e) => e.seq > after);
        if (fresh.length === 0) continue;
        after = fresh.at(-1)!.seq;
        await opts.onEvents(fresh);
      }
      // The master ended the stream (it is shutting down): resume.
      lastError = undefined;
    } catch (err) {
      if (opts.signal.aborted) return;
      if (!isConnectionLoss(err)) throw err;
      lastError = err;
    }
    if (opts.signal.aborted) return;
    if (outage.begin()) await opts.onLost?.();
    if (outage.expired) {
      if (lastError !== undefined) throw lastError;
      throw new CliError(`the master at ${opts.address} kept ending the event stream early; giving up`, ExitCode.UNREACHABLE);
    }
    await outage.pause(opts.signal);
  }
}
