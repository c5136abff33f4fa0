#!/usr/bin/env node
import { runService, STOP_OVERHEAD_MS } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { Worker, workerDrainMs } from './worker.js';

runService({
  name: 'worker',
  env: Env,
  create: (env, logger) => new Worker(env, logger),
  shutdownDeadlineMs: (env) => workerDrainMs(env) + STOP_OVERHEAD_MS,
});
