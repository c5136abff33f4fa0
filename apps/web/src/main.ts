#!/usr/bin/env node
import { runService, STOP_OVERHEAD_MS } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { Web } from './web.js';

runService({
  name: 'web',
  env: Env,
  create: (env, logger) => new Web(env, logger),
  shutdownDeadlineMs: (env) => env.SHUTDOWN_GRACE_MS + STOP_OVERHEAD_MS,
});
