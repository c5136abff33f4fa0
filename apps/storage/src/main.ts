#!/usr/bin/env node
import { runService, STOP_OVERHEAD_MS } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { Storage } from './storage.js';

runService({
  name: 'storage',
  env: Env,
  create: (env, logger) => new Storage(env, logger),
  shutdownDeadlineMs: (env) => env.SHUTDOWN_GRACE_MS + STOP_OVERHEAD_MS,
});
