import { readSecret } from '@cloudai/auth';
import { clientTlsOf, serverTlsOf } from '@cloudai/config';
import type { Logger } from '@cloudai/logger';
import { createRegistry, serveMetrics, type Registry, type RunningMetricsServer } from '@cloudai/metrics';
import { SchedulerServiceDefinition } from '@cloudai/proto';
import { connect, startGrpcServer, type RunningGrpcServer, type ServiceClient } from '@cloudai/rpc';
import type { Env } from './env.js';
import { joinSecretGate } from './join-secret-gate.js';
import { SchedulerLoop } from './loop.js';
import { SchedulerMetrics } from './metrics.js';
import { policyByName } from './policies.js';

export type SchedulerState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

/** How long stop() lets health calls in flight finish. */
export const HEALTH_DRAIN_MS = 5_000;
// The long poll must end well inside the call deadline, or an idle cluster
// would look like an unreachable master.
const LONG_POLL_MS = 10_000;
const CALL_DEADLINE_MS = 30_000;

/** The scheduler process's components: a health (and reflection) server and the placement loop against CLOUDAI_MASTER. */
export class Scheduler {
  readonly loop: SchedulerLoop;
  private currentState: SchedulerState = 'STARTING';
  private readonly master: ServiceClient<typeof SchedulerServiceDefinition>;
  /** the cluster's join secret, which the scheduler API takes; read at start */
  private joinSecret: string | undefined;
  private health?: RunningGrpcServer;
  private readonly registry: Registry = createRegistry();
  private metrics?: RunningMetricsServer;
  private stopping?: Promise<void>;

  constructor(
    private readonly env: Env,
    private readonly logger: Logger,
  ) {
    this.master = connect(SchedulerServiceDefinition, env.CLOUDAI_MASTER, {
      defaultDeadlineMs: CALL_DEADLINE_MS,
      bearer: () => this.joinSecret,
      tls: clientTlsOf(env),
    });
    this.loop = new SchedulerLoop({
      client: this.master.client,
      policy: policyByName(env.SCHEDULER_POLICY),
      intervalMs: env.SCHEDULER_INTERVAL_MS,
      maxTasks: env.SCHEDULER_MAX_TASKS,
      longPollMs: LONG_POLL_MS,
      logger,
      onRound: new SchedulerMetrics(this.registry).observe,
    });
  }

  get state(): SchedulerState {
    return this.currentState;
  }

  /** Where GET /metrics is served; undefined when METRICS_ADDR is off. */
  get metricsAddress(): string | undefined {
    return this.metrics?.address;
  }

  /** Where the health service listens. */
  get address(): string {
    if (!this.health) throw new Error('scheduler is not started');
    return this.health.address;
  }

  async start(): Promise<void> {
    this.joinSecret = await readSecret(
      { value: this.env.CLOUDAI_JOIN_TOKEN, file: this.env.CLOUDAI_JOIN_TOKEN_FILE },
      'CLOUDAI_JOIN_TOKEN',
    );
    this.health = await startGrpcServer({
      listenAddr: this.env.LISTEN_ADDR,
      tls: serverTlsOf(this.env),
      allowInsecure: this.env.CLOUDAI_ALLOW_INSECURE,
      logger: this.logger.child({ component: 'grpc' }),
      metrics: this.registry,
      authenticate: joinSecretGate(() => this.joinSecret),
      reflection: true,
      register: () => {},
    });
    this.metrics = await serveMetrics(this.env, this.registry, this.logger.child({ component: 'metrics' }));
    this.loop.start();
    this.currentState = 'RUNNING';
    this.logger.info(
      {
        master: this.env.CLOUDAI_MASTER,
        policy: this.env.SCHEDULER_POLICY,
        address: this.health.address,
        metrics: this.metrics?.address,
      },
      'scheduler listening',
    );
  }

  /** Safe to call twice: the second call waits for the first. */
  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.currentState = 'STOPPING';
    // The loop first: stopping it aborts its call in flight, so the master sees a cancel, not a hang.
    await this.loop.stop();
    // Then the channel, which only the loop used.
    this.master.close();
    // Health last, so probes see the process serving until the work has stopped.
    await this.health?.shutdown(HEALTH_DRAIN_MS);
    await this.metrics?.close();
    this.currentState = 'STOPPED';
  }
}
