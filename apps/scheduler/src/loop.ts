import type { Logger } from '@cloudai/logger';
import type { SchedulerServiceDefinition } from '@cloudai/proto';
import { isTransient, withRetry } from '@cloudai/rpc';
import { delay, isAbortError } from 'abort-controller-x';
import type { Client } from 'nice-grpc';
import { plan } from './plan.js';
import type { Policy } from './policies.js';
import { toPlanInput } from './snapshot.js';

export type LoopState = 'IDLE' | 'RUNNING' | 'STOPPING' | 'STOPPED';

export type SchedulerClient = Client<typeof SchedulerServiceDefinition>;

export interface SchedulerLoopOptions {
  client: SchedulerClient;
  policy: Policy;
  /** pause after a round that placed nothing, before asking again */
  intervalMs: number;
  /** queued tasks asked for per snapshot */
  maxTasks: number;
  logger: Logger;
  /**
   * Unplaced reasons are sent only when they change, so a full queue does
   * not rewrite every task each round; all are sent again this often (ms)
   * in case the master's copy changed under us (a requeue, another scheduler).
   */
  reasonRefreshMs?: number;
  /** cap on the backoff between rounds that fail for reasons other than an unreachable master */
  maxErrorBackoffMs?: number;
  /**
   * After a round that placed nothing, how long the master may hold the
   * next GetSnapshot waiting for the cluster to change (its long poll).
   * Must stay below the client's call deadline.
   */
  longPollMs?: number;
  /** told of every round that completed (the scheduler's metrics) */
  onRound?: (outcome: RoundOutcome) => void;
}

export interface RoundOutcome {
  /** the master's cluster generation this round planned against (0 if it keeps none) */
  generation: number;
  tasks: number;
  workers: number;
  planned: number;
  committed: number;
  /** placements the master skipped as stale (the task or worker changed since the snapshot) */
  rejected: number;
  unplaced: number;
  reasonsSent: number;
  planMs: number;
  /** from the snapshot in hand to the master's answer to the commit: plan, then commit */
  roundMs: number;
}

export interface LoopStats {
  rounds: number;
  committed: number;
  failedRounds: number;
  /** GetSnapshot attempts that found the master unavailable */
  masterUnavailable: number;
  lastRound: RoundOutcome | undefined;
}

/**
 * The placement loop: snapshot → plan → commit, again at once after a round
 * that placed something. After a round that placed nothing it pauses
 * `intervalMs`, then long-polls: the master answers when the cluster has
 * changed since the last snapshot, or after `longPollMs`, so an idle
 * scheduler neither spins nor reacts late. Waits out an unreachable master
 * with backoff. Nothing it holds outlives a round except the last
 * generation seen and which reasons it already sent.
 */
export class SchedulerLoop {
  readonly #options: Required<Omit<SchedulerLoopOptions, 'onRound'>> & Pick<SchedulerLoopOptions, 'onRound'>;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #state: LoopState = 'IDLE';
  #running: Promise<void> | undefined;
  #stats: LoopStats = { rounds: 0, committed: 0, failedRounds: 0, masterUnavailable: 0, lastRound: undefined };
  // task id → the reason the master last accepted from us
  #sentReasons = new Map<string, string>();
  #lastFullSend = -Infinity;
  #masterDown = false;
  #generation = 0;

  constructor(options: SchedulerLoopOptions) {
    this.#options = { reasonRefreshMs: 30_000, maxErrorBackoffMs: 10_000, longPollMs: 10_000, ...options };
    this.#log = options.logger.child({ component: 'scheduler-loop', policy: options.policy.name });
  }

  get state(): LoopState {
    return this.#state;
  }

  stats(): LoopStats {
    return { ...this.#stats };
  }

  start(): void {
    if (this.#state !== 'IDLE') throw new Error(`cannot start the scheduler loop: it is ${this.#state}`);
    this.#state = 'RUNNING';
    this.#log.info({ intervalMs: this.#options.intervalMs, maxTasks: this.#options.maxTasks }, 'scheduler loop started');
    this.#running = this.#run();
  }

  /** Aborts the round in flight (its RPC included) and waits for the loop to end. */
  async stop(): Promise<void> {
    if (this.#state === 'STOPPED' || this.#state === 'STOPPING') return this.#running;
    if (this.#state === 'IDLE') {
      this.#state = 'STOPPED';
      return;
    }
    this.#state = 'STOPPING';
    this.#abort.abort();
    await this.#running;
    this.#state = 'STOPPED';
    this.#log.info({ rounds: this.#stats.rounds, committed: this.#stats.committed }, 'scheduler loop stopped');
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    let waitForChange = false;
    while (!signal.aborted) {
      let again = false;
      try {
        const outcome = await this.runRound(signal, { waitForChange });
        failures = 0;
        again = outcome.committed > 0;
        waitForChange = !again;
      } catch (err) {
        waitForChange = false;
        if (signal.aborted || isAbortError(err)) break;
        failures++;
        this.#stats.failedRounds++;
        this.#log[isTransient(err) ? 'warn' : 'error']({ err, failures }, 'scheduling round failed');
      }
      if (again) continue;
      const wait =
        failures === 0
          ? this.#options.intervalMs
          : Math.min(this.#options.maxErrorBackoffMs, this.#options.intervalMs * 2 ** Math.min(failures, 16));
      try {
        await delay(signal, wait);
      } catch {
        break;
      }
    }
  }

  /**
   * One round: snapshot, plan, commit. With `waitForChange`, the snapshot is
   * a long poll against the generation of the previous round.
   */
  async runRound(signal: AbortSignal, { waitForChange = false } = {}): Promise<RoundOutcome> {
    const { client, policy, maxTasks, longPollMs } = this.#options;
    // Generation 0 means the master keeps none (or we have not seen one): plain polling.
    const poll = waitForChange && this.#generation > 0;
    const request = { maxTasks, afterGeneration: poll ? this.#generation : 0, waitMs: poll ? longPollMs : 0 };
    const snapshot = await withRetry(() => client.getSnapshot(request, { signal }), {
      signal,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      onRetry: (err, attempt, delayMs) => {
        this.#stats.masterUnavailable++;
        this.#masterDown = true;
        const message = err instanceof Error ? err.message : String(err);
        this.#log.warn({ attempt, retryInMs: delayMs, error: message }, 'master unavailable; retrying');
      },
    });
    if (this.#masterDown) {
      this.#masterDown = false;
      this.#log.info('master reachable again');
    }
    this.#generation = snapshot.generation;

    const input = toPlanInput(snapshot, maxTasks);
    if (input.problems.length > 0) {
      this.#log.warn({ count: input.problems.length, problems: input.problems.slice(0, 10) }, 'bad entries in the snapshot');
    }
    const started = performance.now();
    const result = plan(input.tasks, input.workers, policy);
    const planMs = performance.now() - started;

    const unplaced = [...input.invalid, ...result.unplaced];
    const now = performance.now();
    const fullSend = now - this.#lastFullSend >= this.#options.reasonRefreshMs;
    const toSend = fullSend ? unplaced : unplaced.filter((u) => this.#sentReasons.get(u.taskId) !== u.reason);

    let committed = 0;
    let rejected = 0;
    if (result.placements.length > 0 || toSend.length > 0) {
      const response = await client.commitPlacements({ placements: result.placements, unplaced: toSend }, { signal });
      const skipped = response.results.filter((r) => !r.committed);
      committed = response.results.length - skipped.length;
      rejected = skipped.length;
      this.#sentReasons = new Map(unplaced.map((u) => [u.taskId, u.reason]));
      if (fullSend) this.#lastFullSend = now;
      if (result.placements.length > 0) {
        this.#log.info(
          { planned: result.placements.length, committed, skipped: skipped.length, unplaced: unplaced.length },
          'placements committed',
        );
      }
      if (skipped.length > 0) {
        this.#log.debug(
          { skipped: skipped.slice(0, 10).map((r) => ({ taskId: r.taskId, reason: r.reason })) },
          'master skipped stale placements',
        );
      }
    }

    const outcome: RoundOutcome = {
      generation: snapshot.generation,
      tasks: snapshot.tasks.length,
      workers: snapshot.workers.length,
      planned: result.placements.length,
      committed,
      rejected,
      unplaced: unplaced.length,
      reasonsSent: toSend.length,
      planMs,
      roundMs: performance.now() - started,
    };
    this.#stats.rounds++;
    this.#stats.committed += committed;
    this.#stats.lastRound = outcome;
    this.#log.debug(outcome, 'round done');
    this.#options.onRound?.(outcome);
    return outcome;
  }
}
