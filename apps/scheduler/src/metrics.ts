import { Counter, Histogram, type Registry } from 'prom-client';
import type { RoundOutcome } from './loop.js';

/** Seconds: planning thousands of tasks takes milliseconds; a commit through a busy master, more. */
const ROUND_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What placement results a round can have. */
export const PLACEMENT_RESULTS = ['committed', 'rejected', 'unplaceable'] as const;

/**
 * The scheduler's metrics: how long rounds take (plan and commit; the
 * snapshot's long poll is waiting, not work) and what became of each
 * task a round looked at.
 */
export class SchedulerMetrics {
  private readonly rounds: Histogram;
  private readonly placements: Counter<'result'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.rounds = new Histogram({
      name: 'cloudai_scheduler_round_seconds',
      help: 'Scheduling rounds: from the snapshot in hand to the master answering the commit (plan + commit), in seconds',
      buckets: ROUND_BUCKETS,
      registers,
    });
    this.placements = new Counter({
      name: 'cloudai_scheduler_placements_total',
      help:
        'Tasks per round by result: committed (the master placed it), rejected (the master skipped the placement as stale), ' +
        'unplaceable (no worker fits now; counted again each round it waits)',
      labelNames: ['result'],
      registers,
    });
    for (const result of PLACEMENT_RESULTS) this.placements.inc({ result }, 0);
  }

  /** Records one completed round. */
  readonly observe = (round: RoundOutcome): void => {
    this.rounds.observe(round.roundMs / 1000);
    this.placements.inc({ result: 'committed' }, round.committed);
    this.placements.inc({ result: 'rejected' }, round.rejected);
    this.placements.inc({ result: 'unplaceable' }, round.unplaced);
  };
}
