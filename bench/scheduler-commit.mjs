#!/usr/bin/env node
// scheduler-commit: placements committed through a real master process on
// the SQLite store, planned by the real plan() on the master's snapshot,
// for 100 / 1,000 / 5,000 registered workers and 10,000 queued tasks.
// Baseline in the same run: the same three store writes per placement
// (reserve, conditional task update, assignment insert) made directly on a
// SQLite store in-process — the floor any master must pay.
// Target: ≥ 1,000 placements/s through the master.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'nice-grpc';
import {
  ClusterServiceDefinition,
  SchedulerServiceDefinition,
  TaskServiceDefinition,
  WorkerServiceDefinition,
} from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { startApp, stopApp, tempDir } from '@cloudai/testing';
import { newTaskRecord, openSqliteStore } from '../packages/store/dist/index.js';
import { newAssignmentId, newTaskId, toUnits } from '../packages/domain/dist/index.js';
import { toPlanInput } from '../apps/scheduler/dist/snapshot.js';
import { plan } from '../apps/scheduler/dist/plan.js';
import { binpack } from '../apps/scheduler/dist/policies.js';
import { fmt, pollUntil, result, verdict } from './lib.mjs';

const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);
const SIZES = (process.env.BENCH_WORKERS ?? '100,1000,5000').split(',').map(Number);
const BATCH = 1_000;
const TARGET = 1_000;
const TASK_RES = { cpu: 0.1, memoryGb: 0.125, storageGb: 0, gpu: 0 };
// Room for every task on the smallest cluster: 100 workers × 200 tasks.
const WORKER_RES = { cpu: 20, memoryGb: 32, storageGb: 100, gpu: 0 };

/** One WorkerService that accepts every assignment at once, standing in for all workers. */
async function acceptingWorker() {
  const server = createServer();
  let assigned = 0;
  server.add(WorkerServiceDefinition, {
    async assignTask() {
      assigned++;
      return { accepted: true };
    },
    async cancelTask() {
      return { found: false };
    },
  });
  const port = await server.listen('127.0.0.1:0');
  return { address: `127.0.0.1:${port}`, assigned: () => assigned, close: () => server.shutdown() };
}

async function throughMaster(workers, fake) {
  const data = await tempDir('cloudai-bench-');
  const master = await startApp('master', 'master', {
    CLOUDAI_DATA_DIR: data.path,
    LISTEN_ADDR: '127.0.0.1:0',
    LOG_LEVEL: 'info',
    // No heartbeats in this benchmark: keep every worker alive throughout.
    WORKER_TTL_MS: '600000',
  });
  const addr = String(master.readyLine.address);
  // As the bootstrapped admin, and with the cluster's join secret for the worker and scheduler APIs.
  const admin = (await readFile(join(data.path, 'master', 'bootstrap-token'), 'utf8')).trim();
  const joinSecret = (await readFile(join(data.path, 'master', 'join-token'), 'utf8')).trim();
  const tasks = connect(TaskServiceDefinition, addr, { defaultDeadlineMs: 60_000, bearer: () => admin });
  const cluster = connect(ClusterServiceDefinition, addr, { defaultDeadlineMs: 60_000, bearer: () => joinSecret });
  const sched = connect(SchedulerServiceDefinition, addr, {
    defaultDeadlineMs: 120_000,
    maxMessageBytes: 64 * 1024 * 1024,
    bearer: () => joinSecret,
  });
  try {
    for (let i = 0; i < workers; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, workers - i) }, (_, j) =>
          cluster.client.registerWorker({ workerId: `w-${i + j}`, address: fake.address, capacity: WORKER_RES, running: [] }),
        ),
      );
    }
    for (let i = 0; i < TASKS; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, TASKS - i) }, () =>
          tasks.client.submitTask({ spec: { image: 'bench:1', command: ['true'], resources: TASK_RES } }),
        ),
      );
    }
    const before = fake.assigned();
    const t0 = performance.now();
    const snapshot = await sched.client.getSnapshot({ maxTasks: TASKS });
    const tSnap = performance.now();
    const input = toPlanInput(snapshot, TASKS);
    const planned = plan(input.tasks, input.workers, binpack);
    const tPlan = performance.now();
    let committed = 0;
    for (let i = 0; i < planned.placements.length; i += BATCH) {
      const res = await sched.client.commitPlacements({ placements: planned.placements.slice(i, i + BATCH), unplaced: [] });
      committed += res.results.filter((r) => r.committed).length;
    }
    const tCommit = performance.now();
    // The assignments go out asynchronously; wait until every one arrived.
    await pollUntil(() => (fake.assigned() - before >= committed ? true : undefined), {
      what: () => `${committed} assignments to reach the worker (${fake.assigned() - before} did)`,
      intervalMs: 10,
    });
    const tAssigned = performance.now();
    return {
      planned: planned.placements.length,
      committed,
      snapshotMs: tSnap - t0,
      planMs: tPlan - tSnap,
      commitMs: tCommit - tPlan,
      perSecond: committed / ((tCommit - t0) / 1000),
      perSecondToWorker: committed / ((tAssigned - t0) / 1000),
    };
  } finally {
    tasks.close();
    cluster.close();
    sched.close();
    await stopApp(master);
    await data.remove();
  }
}

/** The same writes per placement, straight on the SQLite store. */
async function rawStore(workers) {
  const data = await tempDir('cloudai-bench-raw-');
  const store = await openSqliteStore(`${data.path}/raw.db`);
  try {
    const now = new Date();
    const cap = toUnits(WORKER_RES);
    for (let i = 0; i < workers; i++) {
      await store.registerWorker({ workerId: `w-${i}`, address: '127.0.0.1:1', capacity: cap, free: cap,
        usage: { cpuPercent: 0, memoryUsedGb: 0, loadAverage1m: 0, runningContainers: 0 }, version: 'bench' }, now);
    }
    const ids = [];
    for (let i = 0; i < TASKS; i++) {
      const taskId = newTaskId();
      ids.push(taskId);
      // newTaskRecord fills every other field from the task field table, so this cannot drift from TaskRecord.
      await store.createTask(newTaskRecord({ taskId, taskName: 'bench', userId: 'bench', image: 'bench:1', command: ['true'],
        resources: TASK_RES, timeoutSeconds: 0, network: false, submittedAt: now }));
    }
    const units = toUnits(TASK_RES);
    const t0 = performance.now();
    for (let i = 0; i < ids.length; i++) {
      const workerId = `w-${i % workers}`;
      const assignmentId = newAssignmentId();
      await store.reserveOnWorker(workerId, units);
      await store.updateTask(ids[i], { statuses: ['QUEUED'], assignmentId: null },
        { status: 'SCHEDULED', assignmentId, workerId, attempt: 1, scheduledAt: new Date() });
      await store.createAssignment({ assignmentId, taskId: ids[i], workerId, attempt: 1, createdAt: new Date(), outcome: null });
    }
    return ids.length / ((performance.now() - t0) / 1000);
  } finally {
    await store.close();
    await data.remove();
  }
}

const fake = await acceptingWorker();
const rows = [];
try {
  for (const workers of SIZES) {
    const m = await throughMaster(workers, fake);
    const raw = await rawStore(workers);
    rows.push({ workers, ...m, rawPerSecond: raw, ratioToRaw: m.perSecond / raw });
  }
} finally {
  await fake.close();
}
console.log(`scheduler-commit (${TASKS} queued tasks, binpack, commits of ${BATCH}, master on SQLite)`);
console.log('workers  committed  snapshot ms  plan ms  commit ms  placements/s  (to worker)  raw store/s  vs raw  vs target');
for (const r of rows) {
  console.log(
    `${String(r.workers).padStart(7)}  ${String(r.committed).padStart(9)}  ${fmt(r.snapshotMs).padStart(11)}  ${fmt(r.planMs).padStart(7)}  ` +
      `${fmt(r.commitMs).padStart(9)}  ${fmt(r.perSecond, 0).padStart(12)}  ${fmt(r.perSecondToWorker, 0).padStart(11)}  ` +
      `${fmt(r.rawPerSecond, 0).padStart(11)}  ${fmt(r.ratioToRaw, 2).padStart(6)}×  ${fmt(r.perSecond / TARGET, 1)}× (${verdict(r.perSecond >= TARGET)})`,
  );
}
result('scheduler-commit', { tasks: TASKS, target: TARGET, rows });
