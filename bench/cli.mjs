#!/usr/bin/env node
// cli: the cold start of `cloudai list` against a live local master (its own
// process, SQLite, 20 queued tasks to print), as a user's shell runs it:
// a new Node process each time. Runs alternate with `node -e 0`, the floor
// no CLI can go under, so the machine's load falls on both alike.
// Target: median wall time of `cloudai list` ≤ 150 ms.
// Also reports the first run on a machine (no code cache yet), which the
// target does not cover.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { appMain, startApp, stopApp, tempDir } from '@cloudai/testing';
import { fmt, median, percentile, result, verdict } from './lib.mjs';

const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 30);
const FIRST_RUNS = Number(process.env.BENCH_CLI_FIRST_RUNS ?? 5);
const TASKS = 20;
const TARGET_MS = 150;
/** One run that takes longer than this is stuck: the benchmark fails rather than hang. */
const RUN_DEADLINE_MS = 30_000;

/** Wall time of one process from spawn to exit, failing on a non-zero exit or a run past the deadline. */
function timed(args, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_DEADLINE_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      if (code === 0) resolve(ms);
      else reject(new Error(`${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

const stats = (xs) => ({ medianMs: median(xs), p90Ms: percentile(xs, 90), minMs: Math.min(...xs) });

const data = await tempDir('cloudai-bench-cli-');
const cacheHome = await mkdtemp(join(tmpdir(), 'cloudai-bench-cli-cache-'));
const master = await startApp('master', 'master', { CLOUDAI_DATA_DIR: data.path, LISTEN_ADDR: '127.0.0.1:0', LOG_LEVEL: 'info' }, (l) =>
  l.msg === 'master listening',
);
try {
  const address = String(master.readyLine.address);
  const token = (await readFile(join(data.path, 'master', 'bootstrap-token'), 'utf8')).trim();
  const api = connect(TaskServiceDefinition, address, { bearer: () => token });
  try {
    for (let i = 0; i < TASKS; i++) await api.client.submitTask({ spec: { image: 'bench:1', command: ['true'], taskName: `bench-${i}` } });
  } finally {
    api.close();
  }
  const cli = appMain('cli');
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    CLOUDAI_MASTER: address,
    CLOUDAI_TOKEN: token,
    // No profile of the machine's, and a code cache of this run's own.
    XDG_CONFIG_HOME: join(data.path, 'no-config'),
    XDG_CACHE_HOME: cacheHome,
    NO_COLOR: '1',
  };
  const list = () => timed([cli, 'list'], env);
  const node = () => timed(['-e', '0'], env);

  // The first run on a machine: no code cache yet.
  const first = [];
  for (let i = 0; i < FIRST_RUNS; i++) {
    await rm(join(cacheHome, 'cloudai'), { recursive: true, force: true });
    first.push(await list());
  }
  // Warm the code cache and the page cache before timing.
  for (let i = 0; i < 3; i++) await list();
  const runs = { node: [], list: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? ['node', 'list'] : ['list', 'node'];
    for (const which of order) runs[which].push(await (which === 'node' ? node() : list()));
  }

  const out = { node: stats(runs.node), list: stats(runs.list), firstRun: stats(first) };
  console.log(`cli cold start (${RUNS} runs each, alternating; a master with ${TASKS} tasks on SQLite)`);
  console.log('command                           median ms   p90 ms   min ms');
  for (const [label, s] of [
    ['node -e 0', out.node],
    ['cloudai list', out.list],
    [`cloudai list, no code cache (${FIRST_RUNS})`, out.firstRun],
  ]) {
    console.log(`${label.padEnd(32)}  ${fmt(s.medianMs).padStart(9)}  ${fmt(s.p90Ms).padStart(7)}  ${fmt(s.minMs).padStart(7)}`);
  }
  const ok = out.list.medianMs <= TARGET_MS;
  console.log(
    `cloudai list: median ${fmt(out.list.medianMs)} ms, ${fmt(out.list.medianMs - out.node.medianMs)} ms over node -e 0 ` +
      `(${verdict(ok)}: ≤ ${TARGET_MS} ms)`,
  );
  result('cli', { runs: RUNS, tasks: TASKS, targetMs: TARGET_MS, ...out, overNodeMs: out.list.medianMs - out.node.medianMs, ok });
} finally {
  await stopApp(master);
  await data.remove();
  await rm(cacheHome, { recursive: true, force: true });
}
