#!/usr/bin/env node
import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { runUntilSignal } from '@cloudai/lifecycle';
import { Env } from './env.js';
import { Master } from './master.js';

async function main(): Promise<void> {
  const env = parseEnv(Env);
  const log = createLogger({ name: 'master', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  const master = new Master(env, log);
  await runUntilSignal(master, log);
}

main().catch((err: unknown) => {
  process.stderr.write(`master: ${(err as Error).message}\n`);
  process.exit(1);
});
