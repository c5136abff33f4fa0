#!/usr/bin/env node
import { parseEnv } from '@cloudai/config';
import { runUntilSignal } from '@cloudai/lifecycle';
import { createLogger } from '@cloudai/logger';
import { Env } from './env.js';
import { Storage } from './storage.js';

async function main(): Promise<void> {
  const env = parseEnv(Env);
  const log = createLogger({ name: 'storage', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  await runUntilSignal(new Storage(env, log), log);
}

main().catch((err: unknown) => {
  process.stderr.write(`storage: ${(err as Error).message}\n`);
  process.exit(1);
});
