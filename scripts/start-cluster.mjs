#!/usr/bin/env node
// `pnpm start`: a whole local cluster on the embedded defaults — master,
// storage, scheduler, CLOUDAI_WORKERS workers and the web console (on
// WEB_LISTEN_ADDR, default 127.0.0.1:8080), each its own process, as
// ops would run them — kept running until Ctrl-C (or SIGTERM), which stops
// them in order: the web console (no new requests), the scheduler (no new
// placements), the workers (their last reports still reach the master), the
// master, then storage.
//
// It supervises: an app that crashes after it was up once is restarted with
// backoff (0.5 s, doubling to 30 s; back to 0.5 s once it stayed up a
// minute) while the others keep running; workers and the scheduler find a
// restarted master again by themselves. An app that fails its very first
// start stops the cluster instead: that is a set-up problem (a port in use,
// no Docker engine) that restarting would only repeat.
//
// The apps never outlive this process, however it dies: each gets one end
// of a pipe as file descriptor 3 (named by CLOUDAI_PARENT_PIPE_FD), and
// stops within 3 s once the kernel closes it, which it does when this
// process exits, SIGKILL included: a worker then kills its tasks' containers
// at once instead of draining them, as there is no master left to report to.
//
// The master starts first: it makes the cluster's join secret, which the
// workers and the scheduler are handed, and on a fresh data folder the
// admin's first API token, which is saved as the CLI's default profile so
// `pnpm cloudai` works at once.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
// As packages/testing's app-runtime.ts explains: a small young generation,
// and chunk buffers from glibc's heap, reused once released. MALLOC_*
// set for this script wins (the env is spread after the default).
const APP_NODE_FLAGS = ['--max-semi-space-size=2'];
const APP_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '4194304' };

const RESTART_FIRST_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;
/** An app up this long before it crashed starts its backoff over. */
const STABLE_AFTER_MS = 60_000;
/**
 * Each app bounds its own shutdown (a worker's lasts longest: its tasks'
 * grace, their reports, in-flight calls); one still there after this is
 * killed.
 */
const KILL_AFTER_MS = 120_000;
/** The order of a stop; each group has exited before the next is signalled. */
const STOP_ORDER = ['web', 'scheduler', 'worker', 'master', 'storage'];
/** The descriptor number the parent pipe has in every app. */
const PARENT_PIPE_FD = 3;

// Our own output may be a closed pipe (`pnpm start | head`): the cluster
// still runs and still stops in order, it just cannot be watched any more.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

function fail(message) {
  process.stderr.write(`start-cluster: ${message}\n`);
  process.exit(2);
}

/** A line of the supervisor's own, among the apps' prefixed lines. */
function say(message) {
  process.stdout.write(`[supervisor] ${message}\n`);
}

const workers = Number(env.CLOUDAI_WORKERS ?? '1');
if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
  fail(`CLOUDAI_WORKERS must be a whole number from 0 to 64, got ${JSON.stringify(env.CLOUDAI_WORKERS)}`);
}
const dataDir = resolve(env.CLOUDAI_DATA_DIR ?? join(root, '.cloudai'));
const masterAddr = env.CLOUDAI_MASTER ?? '127.0.0.1:50051';
const storageAddr = env.CLOUDAI_STORAGE ?? '127.0.0.1:50052';
const webAddr = env.WEB_LISTEN_ADDR ?? '127.0.0.1:8080';
const pretty = env.LOG_PRETTY ?? (process.stdout.isTTY ? 'true' : 'false');
const metrics = metricsAddrs(env.METRICS_ADDR);

/**
 * Each app's METRICS_ADDR. One address handed to every app would make all
 * but the first fail to bind it, so METRICS_ADDR here is the master's, and
 * storage and the scheduler take the next two ports (port 0: each a free
 * one; `off`: none). Unset, each app keeps its own default (9451-9453).
 * Workers serve none: set METRICS_ADDR on a worker run by hand to scrape it.
 */
function metricsAddrs(given) {
  const off = { master: {}, storage: {}, scheduler: {}, worker: { METRICS_ADDR: 'off' } };
  if (!given) return off;
  if (given === 'off') return { master: { METRICS_ADDR: 'off' }, storage: { METRICS_ADDR: 'off' }, scheduler: { METRICS_ADDR: 'off' }, worker: off.worker };
  const match = /^(.*):(\d{1,5})$/.exec(given);
  const port = Number(match?.[2]);
  if (!match || port > 65_533) fail(`METRICS_ADDR must be host:port (the master's; storage and the scheduler take the next two ports) or off, got ${JSON.stringify(given)}`);
  const at = (offset) => ({ METRICS_ADDR: `${match[1]}:${port === 0 ? 0 : port + offset}` });
  return { master: at(0), storage: at(1), scheduler: at(2), worker: off.worker };
}

for (const app of ['master', 'scheduler', 'storage', 'worker', 'web', 'cli']) {
  if (!existsSync(join(root, 'apps', app, 'dist', 'main.js'))) fail(`apps/${app} is not built: run \`pnpm build\` first`);
}
mkdirSync(dataDir, { recursive: true });

/** Every supervised app, in start order. */
const apps = [];
let stopping = false;

/** "code 1" or "signal SIGKILL": how a process ended. */
function howItEnded(code, signal) {
  return signal ? `signal ${signal}` : `code ${code}`;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Supervises one app: starts it now and again after each crash. `ready` is
 * text of the log line that shows it is up; resolves once that is seen in
 * the first run.
 */
function supervise(name, app, extraEnv, ready) {
  let readyResolve;
  const firstReady = new Promise((res) => (readyResolve = res));
  const entry = {
    name,
    group: STOP_ORDER.find((g) => name.startsWith(g)),
    child: undefined,
    /** the pending restart, while one waits out its backoff */
    restartTimer: undefined,
    backoffMs: RESTART_FIRST_DELAY_MS,
    restarts: 0,
    wasReady: false,
  };

  const run = () => {
    entry.restartTimer = undefined;
    const startedAt = Date.now();
    const child = spawn(process.execPath, [...APP_NODE_FLAGS, '--enable-source-maps', join(root, 'apps', app, 'dist', 'main.js')], {
      env: {
        ...APP_MALLOC_ENV,
        ...env,
        CLOUDAI_DATA_DIR: dataDir,
        LOG_PRETTY: pretty,
        ...extraEnv,
        CLOUDAI_PARENT_PIPE_FD: String(PARENT_PIPE_FD),
      },
      // stdio[3] is the parent pipe: nothing is written to it, it only ends.
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Own process group: a terminal's Ctrl-C reaches only the supervisor,
      // which then stops the apps in order.
      detached: true,
    });
    entry.child = child;
    if (entry.restarts > 0) say(`${name} restarted (pid ${child.pid}, restart ${entry.restarts})`);
    const prefix = `[${name}] `;
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          process.stdout.write(prefix + line + '\n');
          if (!entry.wasReady && ready && line.includes(ready)) {
            entry.wasReady = true;
            readyResolve();
          }
        }
      });
    }
    child.on('error', (err) => say(`${name} could not be started: ${err.message}`));
    child.on('exit', (code, signal) => {
      const upMs = Date.now() - startedAt;
      if (stopping) {
        say(`${name} stopped (${howItEnded(code, signal)})`);
        return;
      }
      if (!entry.wasReady && entry.restarts === 0) {
        process.stderr.write(
          `start-cluster: ${name} exited (${howItEnded(code, signal)}) before it was up; see its log above. Stopping the cluster.\n`,
        );
        void stopAll(1);
        return;
      }
      if (upMs >= STABLE_AFTER_MS) entry.backoffMs = RESTART_FIRST_DELAY_MS;
      const delayMs = entry.backoffMs;
      entry.backoffMs = Math.min(entry.backoffMs * 2, RESTART_MAX_DELAY_MS);
      entry.restarts++;
      say(
        `${name} (pid ${child.pid}) crashed: exited with ${howItEnded(code, signal)} after ${seconds(upMs)} up; ` +
          `restarting it in ${seconds(delayMs)}`,
      );
      entry.restartTimer = setTimeout(run, delayMs);
    });
  };

  apps.push(entry);
  run();
  return firstReady;
}

/** Sends SIGTERM and resolves once the process has exited, killing it if it overstays. */
function terminate(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const killer = setTimeout(() => {
      say(`pid ${child.pid} did not stop within ${seconds(KILL_AFTER_MS)}; killing it`);
      child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      res();
    });
    child.kill('SIGTERM');
  });
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  for (const entry of apps) clearTimeout(entry.restartTimer);
  for (const group of STOP_ORDER) {
    const running = apps.filter((a) => a.group === group && a.child).map((a) => a.child);
    await Promise.all(running.map(terminate));
  }
  process.exit(exitCode);
}

function onSignal(signal) {
  if (!stopping) {
    say(`${signal}: stopping the cluster (${STOP_ORDER.join(', ')}); press Ctrl-C again to kill it at once`);
    void stopAll(0);
    return;
  }
  say(`${signal} again: killing every app`);
  process.exit(1);
}
// Whatever ends this process, the apps go too: the parent pipe tells them,
// and those still running at a normal exit are killed here.
process.on('exit', () => {
  for (const entry of apps) {
    if (entry.child && entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
  }
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

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

// Never resolves if the master fails its first start: stopAll exits instead.
await supervise('master', 'master', { LISTEN_ADDR: masterAddr, CLOUDAI_STORAGE: storageAddr, ...metrics.master }, 'master listening');
// The secret the master made (or was given) is how workers and the scheduler join.
const joining =
  env.CLOUDAI_JOIN_TOKEN || env.CLOUDAI_JOIN_TOKEN_FILE ? {} : { CLOUDAI_JOIN_TOKEN_FILE: join(dataDir, 'master', 'join-token') };
saveCliProfile();
void supervise('storage', 'storage', { LISTEN_ADDR: storageAddr, ...metrics.storage }, 'storage listening');
void supervise(
  'scheduler',
  'scheduler',
  { CLOUDAI_MASTER: masterAddr, LISTEN_ADDR: '127.0.0.1:0', ...joining, ...metrics.scheduler },
  'scheduler listening',
);
for (let i = 1; i <= workers; i++) {
  // WORKER_ID names the only worker, or prefixes several: a worker removes
  // the containers labelled with its id when it starts, so two clusters on
  // one Docker engine must not share ids.
  const workerId = env.WORKER_ID ? (workers === 1 ? env.WORKER_ID : `${env.WORKER_ID}-${i}`) : `worker-${i}`;
  void supervise(
    `worker-${i}`,
    'worker',
    {
      WORKER_ID: workerId,
      CLOUDAI_MASTER: masterAddr,
      CLOUDAI_STORAGE: storageAddr,
      LISTEN_ADDR: '127.0.0.1:0',
      ...joining,
      ...metrics.worker,
    },
    'worker started',
  );
}
const webReady = supervise('web', 'web', { WEB_LISTEN_ADDR: webAddr, CLOUDAI_MASTER: masterAddr }, 'web listening');
process.stdout.write(
  `cloudai: master on ${masterAddr}, ${workers} worker(s), data in ${dataDir}. ` +
    `Try: pnpm cloudai task cloudai-test/busybox:1 -- sh -c 'echo hi'   (Ctrl-C stops everything)\n`,
);
await webReady;
// The admin's first token signs the console in; on a data folder made before, use a token from `cloudai tokens create`.
const tokenHint = existsSync(join(dataDir, 'master', 'bootstrap-token'))
  ? ` (sign in with the token in ${join(dataDir, 'master', 'bootstrap-token')})`
  : '';
process.stdout.write(`cloudai: console on http://${webAddr}/${tokenHint}\n`);
