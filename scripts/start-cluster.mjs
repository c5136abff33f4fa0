#!/usr/bin/env node
// `pnpm start`: a whole local cluster on the embedded defaults — master,
// storage, scheduler and CLOUDAI_WORKERS workers, each its own process, as
// ops would run them — until Ctrl-C, which stops them all (workers first,
// so their last reports still reach the master). The master starts first:
// it makes the cluster's join secret, which the workers and the scheduler
// are handed, and on a fresh data folder the admin's first API token, which
// is saved as the CLI's default profile so `pnpm cloudai` works at once.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;

function fail(message) {
  process.stderr.write(`start-cluster: ${message}\n`);
  process.exit(2);
}

const workers = Number(env.CLOUDAI_WORKERS ?? '1');
if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
  fail(`CLOUDAI_WORKERS must be a whole number from 0 to 64, got ${JSON.stringify(env.CLOUDAI_WORKERS)}`);
}
const dataDir = resolve(env.CLOUDAI_DATA_DIR ?? join(root, '.cloudai'));
const masterAddr = env.CLOUDAI_MASTER ?? '127.0.0.1:50051';
const storageAddr = env.CLOUDAI_STORAGE ?? '127.0.0.1:50052';
const pretty = env.LOG_PRETTY ?? (process.stdout.isTTY ? 'true' : 'false');

for (const app of ['master', 'scheduler', 'storage', 'worker', 'cli']) {
  if (!existsSync(join(root, 'apps', app, 'dist', 'main.js'))) fail(`apps/${app} is not built: run \`pnpm build\` first`);
}
mkdirSync(dataDir, { recursive: true });

const children = [];

/** Starts an app; resolves once it logs a line containing `ready` (when given). */
function start(name, app, extraEnv, ready) {
  let readyResolve;
  const readyPromise = new Promise((res) => (readyResolve = res));
  const child = spawn(process.execPath, ['--enable-source-maps', join(root, 'apps', app, 'dist', 'main.js')], {
    env: { ...env, CLOUDAI_DATA_DIR: dataDir, LOG_PRETTY: pretty, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a terminal's Ctrl-C reaches only this launcher,
    // which then stops the apps in order.
    detached: true,
  });
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        process.stdout.write(prefix + line + '\n');
        if (ready && line.includes(ready)) readyResolve();
      }
    });
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${prefix}exited (${signal ?? `code ${code}`})\n`);
    if (!stopping) {
      process.stderr.write(`start-cluster: ${name} stopped unexpectedly; stopping the cluster\n`);
      stopAll(1);
    }
  });
  children.push({ name, child });
  return readyPromise;
}

/**
 * Saves this cluster's master and the admin's bootstrap token as the CLI's
 * "default" profile, through `cloudai login` (which checks the token first),
 * unless the CLI is already set up for something else.
 */
function saveCliProfile() {
  const tokenFile = join(dataDir, 'master', 'bootstrap-token');
  if (!existsSync(tokenFile)) return; // not made here: the users already exist
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || '/root', '.config');
  const configFile = join(configHome, 'cloudai', 'config.json');
  if (existsSync(configFile)) {
    let config;
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch {
      process.stdout.write(`cloudai: ${configFile} is not readable JSON; left it alone\n`);
      return;
    }
    const current = config.current ?? 'default';
    const saved = config.profiles?.default;
    if (current !== 'default' || (saved && saved.master !== masterAddr && saved.token !== undefined)) {
      process.stdout.write(
        `cloudai: the CLI has other profiles; to use this cluster: pnpm cloudai login --master ${masterAddr} --token-stdin < ${tokenFile}\n`,
      );
      return;
    }
  }
  const login = spawnSync(
    process.execPath,
    [join(root, 'apps', 'cli', 'dist', 'main.js'), 'login', '--master', masterAddr, '--profile', 'default', '--token-stdin'],
    { input: readFileSync(tokenFile), env: { ...env, CLOUDAI_TOKEN: '' }, encoding: 'utf8' },
  );
  if (login.status === 0) process.stdout.write(`cloudai: ${login.stdout.trim()} (the admin's token from ${tokenFile})\n`);
  else process.stdout.write(`cloudai: could not save the CLI profile: ${login.stderr.trim()}\n`);
}

let stopping = false;
async function stopAll(exitCode = 0) {
  if (stopping) return;
  stopping = true;
  // Workers first (they report what they were doing), then the scheduler,
  // then the master and storage.
  for (const group of [['worker'], ['scheduler'], ['master', 'storage']]) {
    const batch = children.filter((c) => group.some((g) => c.name.startsWith(g)) && c.child.exitCode === null);
    await Promise.all(
      batch.map(
        (c) =>
          new Promise((res) => {
            c.child.once('exit', res);
            c.child.kill('SIGTERM');
          }),
      ),
    );
  }
  process.exit(exitCode);
}
process.on('exit', () => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
});
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

await start('master', 'master', { LISTEN_ADDR: masterAddr, CLOUDAI_STORAGE: storageAddr }, 'master listening');
// The secret the master made (or was given) is how workers and the scheduler join.
const joining =
  env.CLOUDAI_JOIN_TOKEN || env.CLOUDAI_JOIN_TOKEN_FILE ? {} : { CLOUDAI_JOIN_TOKEN_FILE: join(dataDir, 'master', 'join-token') };
saveCliProfile();
start('storage', 'storage', { LISTEN_ADDR: storageAddr });
start('scheduler', 'scheduler', { CLOUDAI_MASTER: masterAddr, LISTEN_ADDR: '127.0.0.1:0', ...joining });
for (let i = 1; i <= workers; i++) {
  start(`worker-${i}`, 'worker', {
    WORKER_ID: env.WORKER_ID && workers === 1 ? env.WORKER_ID : `worker-${i}`,
    CLOUDAI_MASTER: masterAddr,
    CLOUDAI_STORAGE: storageAddr,
    LISTEN_ADDR: '127.0.0.1:0',
    ...joining,
  });
}
process.stdout.write(
  `cloudai: master on ${masterAddr}, ${workers} worker(s), data in ${dataDir}. ` +
    `Try: pnpm cloudai task cloudai-test/busybox:1 -- sh -c 'echo hi'   (Ctrl-C stops everything)\n`,
);
