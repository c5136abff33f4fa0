#!/usr/bin/env node
// auth: what authenticating every call costs. 20 concurrent clients submit
// tasks to a master on SQLite as fast as it takes them, once with the real
// authentication (a user's API token: bearer parsing, the verified-token
// cache, a constant-time secret comparison) and once with authentication
// replaced by a stub that admits every call, in alternating rounds in the
// same process. Reports submits/s and p99 latency of each.
// Targets: throughput and p99 with auth ≤ 10% worse than without.
// (The TLS side of issue 10, the 1 GiB transfer with mTLS against
// plaintext, is the TLS row of `pnpm bench transfer`.)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskServiceDefinition } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { tempDir } from '@cloudai/testing';
import { Env } from '../apps/master/dist/env.js';
import { Master } from '../apps/master/dist/master.js';
import { createLogger } from '../packages/logger/dist/index.js';
import { fmt, percentile, result, verdict } from './lib.mjs';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const PER_CLIENT = Number(process.env.BENCH_SUBMITS ?? 150);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 0.9;
const logger = createLogger({ name: 'bench-auth', level: 'silent' });

/** Admits every call as an admin: the baseline with no authentication work at all. */
const admitAll = async () => ({ principal: { kind: 'user', userName: 'admin', role: 'admin', tokenId: 'none' } });

async function round(withAuth) {
  const data = await tempDir('cloudai-bench-auth-');
  const master = new Master(
    // No metrics endpoint: it would take the default port a local cluster may hold (the gRPC metrics still count).
    Env.parse({ LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_DATA_DIR: data.path, LOG_LEVEL: 'silent', METRICS_ADDR: 'off' }),
    logger,
    withAuth ? {} : { authenticate: admitAll },
  );
  await master.start();
  const token = (await readFile(join(data.path, 'master', 'bootstrap-token'), 'utf8')).trim();
  const clients = Array.from({ length: CLIENTS }, () =>
    connect(TaskServiceDefinition, master.address, { defaultDeadlineMs: 60_000, bearer: () => token }),
  );
  try {
    // Warm every channel (and, with auth, the token cache) before timing.
    await Promise.all(clients.map((c) => c.client.listTasks({ limit: 1 })));
    const latencies = [];
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const start = performance.now();
          await c.client.submitTask({ spec: { image: 'bench:1', command: ['true'] } });
          latencies.push(performance.now() - start);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { perSecond: latencies.length / seconds, p99Ms: percentile(latencies, 99), p50Ms: percentile(latencies, 50) };
  } finally {
    for (const c of clients) c.close();
    await master.stop();
    await data.remove();
  }
}

const runs = { off: [], on: [] };
for (let r = 0; r < ROUNDS; r++) {
  // Alternating, so drift in the machine's load falls on both sides.
  for (const mode of r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) runs[mode].push(await round(mode === 'on'));
}
const best = (xs, key, pick) => pick(...xs.map((x) => x[key]));
const off = { perSecond: best(runs.off, 'perSecond', Math.max), p99Ms: best(runs.off, 'p99Ms', Math.min) };
const on = { perSecond: best(runs.on, 'perSecond', Math.max), p99Ms: best(runs.on, 'p99Ms', Math.min) };
const throughputRatio = on.perSecond / off.perSecond;
const p99Ratio = off.p99Ms / on.p99Ms;

console.log(`auth (${CLIENTS} concurrent clients × ${PER_CLIENT} submits, SQLite, best of ${ROUNDS} alternating rounds)`);
console.log('mode           submits/s    p50 ms    p99 ms');
for (const [name, rs] of [['no auth', runs.off], ['auth (token)', runs.on]]) {
  for (const r of rs) console.log(`${name.padEnd(13)}  ${fmt(r.perSecond, 0).padStart(9)}  ${fmt(r.p50Ms).padStart(8)}  ${fmt(r.p99Ms).padStart(8)}`);
}
console.log(
  `throughput with auth: ${fmt(throughputRatio * 100, 1)}% of without (${verdict(throughputRatio >= TARGET)}: ≤ 10% worse); ` +
    `p99 with auth: ${fmt(on.p99Ms)} vs ${fmt(off.p99Ms)} ms, ${fmt(Math.abs(on.p99Ms / off.p99Ms - 1) * 100, 1)}% ` +
    `${on.p99Ms > off.p99Ms ? 'worse' : 'better'} (${verdict(p99Ratio >= TARGET)})`,
);
result('auth', { clients: CLIENTS, perClient: PER_CLIENT, rounds: ROUNDS, off, on, throughputRatio, p99Ratio, runs });
