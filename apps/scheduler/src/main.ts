import { pathToFileURL } from 'node:url';
import { parseEnv } from '@cloudai/config';
import { runUntilSignal } from '@cloudai/lifecycle';
import { createLogger, type Logger } from '@cloudai/logger';
import { SchedulerServiceDefinition } from '@cloudai/proto';
import { connect, startGrpcServer, type RunningGrpcServer } from '@cloudai/rpc';
import { Env } from './env.js';
import { SchedulerLoop } from './loop.js';
import { policyByName } from './policies.js';

export interface SchedulerApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly loop: SchedulerLoop;
  /** where the health service listens, once started */
  healthAddress(): string | undefined;
}

const SHUTDOWN_DEADLINE_MS = 5_000;
// The long poll must end well inside the call deadline, or an idle cluster
// would look like an unreachable master.
const LONG_POLL_MS = 10_000;
const CALL_DEADLINE_MS = 30_000;

/** The composition root: a health server and the placement loop against CLOUDAI_MASTER. */
export function createScheduler(env: Env, logger: Logger): SchedulerApp {
  const master = connect(SchedulerServiceDefinition, env.CLOUDAI_MASTER, { defaultDeadlineMs: CALL_DEADLINE_MS });
  const loop = new SchedulerLoop({
    client: master.client,
    policy: policyByName(env.SCHEDULER_POLICY),
    intervalMs: env.SCHEDULER_INTERVAL_MS,
    maxTasks: env.SCHEDULER_MAX_TASKS,
    longPollMs: LONG_POLL_MS,
    logger,
  });
  let health: RunningGrpcServer | undefined;
  let stopping: Promise<void> | undefined;

  return {
    loop,
    healthAddress: () => health?.address,
    async start() {
      health = await startGrpcServer({
        listenAddr: env.LISTEN_ADDR,
        logger: logger.child({ component: 'grpc' }),
        register: () => {},
      });
      loop.start();
      logger.info(
        { master: env.CLOUDAI_MASTER, policy: env.SCHEDULER_POLICY, address: health.address },
        'scheduler listening',
      );
    },
    stop() {
      stopping ??= (async () => {
        // The loop first: stopping it aborts its call in flight, so the master sees a cancel, not a hang.
        await loop.stop();
        // Then the channel, which only the loop used.
        master.close();
        // Health last, so probes see the process serving until the work has stopped.
        await health?.shutdown(SHUTDOWN_DEADLINE_MS);
      })();
      return stopping;
    },
  };
}

async function main(): Promise<void> {
  const env = parseEnv(Env);
  const logger = createLogger({ name: 'scheduler', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  await runUntilSignal(createScheduler(env, logger), logger);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    // Configuration errors come before there is a logger: one plain line.
    process.stderr.write(`scheduler: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
