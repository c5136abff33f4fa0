#!/usr/bin/env node
import { runService, STOP_OVERHEAD_MS } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { HEALTH_DRAIN_MS, Scheduler } from './scheduler.js';

runService({
  name: 'scheduler',
  env: Env,
  create: (env, logger) => new Scheduler(env, logger),
  shutdownDeadlineMs: () => HEALTH_DRAIN_MS + STOP_OVERHEAD_MS,
});
