import type { Store } from '@cloudai/store';

/**
 * How long a missing seq may still be stored: longer than an append can take
 * between taking its seq and inserting the event (the MongoDB adapter's
 * server selection alone may wait 10 s). A seq missing for longer is given
 * up on: its append failed, or a reader that already moved past it never
 * sees it.
 */
export const GAP_WAIT_MS = 15_000;
/** Events read per page while looking for a gap; also how far below the head a new horizon starts looking. */
const SCAN_PAGE = 1000;

export interface EventHorizonOptions {
  /** see GAP_WAIT_MS */
  gapWaitMs?: number;
  /** a monotonic clock in ms (tests pass their own) */
  now?: () => number;
}

/**
 * The settled part of the event log: the highest seq at or below which no
 * event can still appear, so a reader that moves its cursor there misses
 * nothing. Several masters over one MongoDB each take a seq and then insert
 * (packages/store/src/mongo/mongo-store.ts appendEvents), so seq 11 may be
 * stored while 10 is still on its way. A missing seq holds the horizon below
 * it until it is stored or until GAP_WAIT_MS after a head at or above it was
 * seen: every seq up to a stored one was taken before that one was stored.
 */
export class EventHorizon {
  /** every seq at or below it is stored or given up on; undefined before the first look */
  private settledThrough: number | undefined;
  /** the highest head seen at least gapWaitMs ago: every missing seq up to it is given up on */
  private givenUpThrough = 0;
  /** heads seen less than gapWaitMs ago, oldest first, each higher than the one before */
  private readonly recentHeads: { at: number; head: number }[] = [];
  private readonly gapWaitMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    options: EventHorizonOptions = {},
  ) {
    this.gapWaitMs = options.gapWaitMs ?? GAP_WAIT_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** The highest seq such that every event at or below it that will ever be stored is stored now. */
  async settled(): Promise<number> {
    const head = await this.store.lastEventSeq();
    this.sawHead(head, this.now());
    let firstLook = this.settledThrough === undefined;
    let settled = Math.max(this.settledThrough ?? Math.max(0, head - SCAN_PAGE), this.givenUpThrough);
    scan: while (settled < head) {
      const page = await this.store.listEvents({ afterSeq: settled, throughSeq: head, limit: SCAN_PAGE });
      if (page.length === 0) break; // retention removed them meanwhile
      // A first look cannot tell seqs that retention removed (the oldest go
      // first) from ones still on their way, and waiting on them would stall
      // every reader of a restarted master: below the first event it reads
      // counts as settled.
      if (firstLook) settled = Math.max(settled, page[0]!.seq - 1);
      firstLook = false;
      for (const { seq } of page) {
        if (seq !== settled + 1) break scan;
        settled = seq;
      }
    }
    this.settledThrough = Math.max(this.settledThrough ?? 0, settled);
    return this.settledThrough;
  }

  private sawHead(head: number, at: number): void {
    while (this.recentHeads.length > 0 && at - this.recentHeads[0]!.at >= this.gapWaitMs) {
      this.givenUpThrough = Math.max(this.givenUpThrough, this.recentHeads.shift()!.head);
    }
    const last = this.recentHeads.at(-1)?.head ?? this.givenUpThrough;
    if (head > last) this.recentHeads.push({ at, head });
  }
}
