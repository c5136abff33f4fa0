#!/usr/bin/env node
import { runService, STOP_OVERHEAD_MS } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { Master } from './master.js';

runService({
  name: 'master',
  env: Env,
  create: (env, logger) => new Master(env, logger),
  shutdownDeadlineMs: (env) => env.SHUTDOWN_GRACE_MS + STOP_OVERHEAD_MS,
});
