import type { Logger } from '@cloudai/logger';
import type { Resources } from '@cloudai/proto';
import { isUnavailable, withRetry } from '@cloudai/rpc';
import { delay, isAbortError } from 'abort-controller-x';
import { Metadata } from 'nice-grpc';
import type { MasterSession } from './master-session.js';
import type { ClusterClient } from './reporter.js';
import type { TaskRunner } from './task-runner.js';
import { UsageSampler } from './usage.js';

export type AgentState = 'IDLE' | 'REGISTERING' | 'REGISTERED' | 'STOPPED';

/** Used until the master says otherwise, and when it answers 0. */
const DEFAULT_HEARTBEAT_MS = 5_000;
const MIN_HEARTBEAT_MS = 100;
const MAX_HEARTBEAT_MS = 60_000;

export interface AgentOptions {
  client: ClusterClient;
  runner: TaskRunner;
  workerId: string;
  /** where the master reaches this worker's WorkerService */
  address: string;
  capacity: Resources;
  version: string;
  /** the join secret to register with, and where the credential it brings is kept */
  session: MasterSession;
  logger: Logger;
  /** backoff while the master is unreachable */
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
}

/**
 * Keeps this worker known to the master: registers (again, whenever the
 * master has forgotten it), then heartbeats with telemetry and the running
 * list, stopping whatever the master calls stale.
 */
export class Agent {
  private readonly controller = new AbortController();
  private readonly log: Logger;
  private readonly usage = new UsageSampler();
  private currentState: AgentState = 'IDLE';
  private loop: Promise<void> | undefined;
  private intervalMs = DEFAULT_HEARTBEAT_MS;
  private failedHeartbeats = 0;

  constructor(private readonly options: AgentOptions) {
    this.log = options.logger.child({ component: 'agent' });
  }

  get state(): AgentState {
    return this.currentState;
  }

  get heartbeatIntervalMs(): number {
    return this.intervalMs;
  }

  /** Starts registering and heartbeating in the background. */
  start(): void {
    if (this.loop) return;
    this.loop = this.run(this.controller.signal).catch((err: unknown) => {
      if (!isAbortError(err)) this.log.error({ err }, 'agent loop failed');
    });
  }

  /** Stops heartbeating; the master will notice the silence. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
    this.currentState = 'STOPPED';
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.currentState !== 'REGISTERED') await this.register(signal);
      await delay(signal, this.intervalMs);
      await this.heartbeat(signal);
    }
  }

  private async register(signal: AbortSignal): Promise<void> {
    this.currentState = 'REGISTERING';
    const o = this.options;
    const response = await withRetry(
      () =>
        o.client.registerWorker(
          {
            workerId: o.workerId,
            address: o.address,
            capacity: o.capacity,
            running: o.runner.running(),
            version: o.version,
          },
          // Registration is made with the join secret; it answers with this worker's own credential.
          { signal, metadata: Metadata({ authorization: `Bearer ${o.session.joinSecret}` }) },
        ),
      {
        signal,
        // Until the master takes us, there is nothing else to do: keep trying,
        // but say loudly when it is not a matter of the master being down.
        retryable: () => true,
        initialDelayMs: o.retryInitialDelayMs ?? 200,
        maxDelayMs: o.retryMaxDelayMs ?? 5_000,
        onRetry: (err, attempt, delayMs) => {
          if (isUnavailable(err)) {
            this.log.warn({ attempt, delayMs, err }, 'cannot reach the master; retrying registration');
          } else {
            this.log.error({ attempt, delayMs, err }, 'the master refused registration; retrying');
          }
        },
      },
    );
    o.session.registered(response.credential, response.masterPublicKey);
    this.intervalMs = clampInterval(response.heartbeatIntervalMs);
    this.currentState = 'REGISTERED';
    this.log.info(
      { address: o.address, capacity: o.capacity, heartbeatIntervalMs: this.intervalMs, stale: response.stale.length },
      'registered with the master',
    );
    o.runner.dropStale(response.stale);
    o.runner.resumeLogs();
  }

  private async heartbeat(signal: AbortSignal): Promise<void> {
    const o = this.options;
    try {
      const response = await o.client.heartbeat(
        { workerId: o.workerId, usage: this.usage.sample(o.runner.runningContainers()), running: o.runner.running() },
        { signal },
      );
      if (!response.known) {
        this.log.warn('the master does not know this worker; registering again');
        this.currentState = 'IDLE';
        return;
      }
      if (this.failedHeartbeats > 0) {
        this.log.info({ missed: this.failedHeartbeats }, 'heartbeats reach the master again');
      }
      this.failedHeartbeats = 0;
      o.runner.dropStale(response.stale);
    } catch (err) {
      if (signal.aborted) throw err;
      // A missed heartbeat is not fatal: the next one may get through, and a
      // master that lost us answers known=false. Only the first of a run is
      // worth a warning; the rest would flood the log during an outage.
      this.failedHeartbeats++;
      const level = this.failedHeartbeats === 1 ? 'warn' : 'debug';
      this.log[level]({ err, missed: this.failedHeartbeats }, 'heartbeat failed');
    }
  }
}

function clampInterval(ms: number): number {
  if (!ms) return DEFAULT_HEARTBEAT_MS;
  return Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, ms));
}
