#!/usr/bin/env node
// overhead: 20 trivial tasks through the whole system (CLI-facing gRPC →
// master → scheduler → worker → Docker) against the same image and command
// run raw through the Docker Engine API, measured in the same run.
//   start: submit → RUNNING      vs  raw create + start
//   e2e:   submit → SUCCEEDED    vs  raw create + start + wait + remove (docker run --rm)
// Targets: median start overhead ≤ 150 ms; end-to-end ≤ 1.3× raw.
import { TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { requireDocker, startCluster, TEST_IMAGE } from '@cloudai/testing';
import { fmt, median, pollUntil, result, verdict } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const CMD = ['true'];

async function rawRun(docker) {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: CMD,
    HostConfig: { NetworkMode: 'none', NanoCpus: 1e9, Memory: 512 * 1024 * 1024 },
  });
  await c.start();
  const started = performance.now() - t0;
  await c.wait();
  await c.remove({ force: true });
  return { start: started, e2e: performance.now() - t0 };
}

async function systemRun(client) {
  const t0 = performance.now();
  const { task } = await client.submitTask({ spec: { image: TEST_IMAGE, command: CMD } });
  const submitted = task.submittedAt.getTime();
  const submitRtt = performance.now() - t0;
  return pollUntil(
    async () => {
      const { task: cur } = await client.getTask({ taskId: task.taskId });
      if (cur.status === TaskStatus.TASK_STATUS_SUCCEEDED) {
        const e2e = performance.now() - t0;
        // The master stamps RUNNING when the worker reports the container
        // started: a precise start time on the master's clock.
        return { start: cur.startedAt.getTime() - submitted + submitRtt / 2, e2e };
      }
      if (cur.status > TaskStatus.TASK_STATUS_SUCCEEDED) throw new Error(`task ended ${TaskStatus[cur.status]}: ${cur.reason}`);
      return undefined;
    },
    { what: `task ${task.taskId} to succeed`, intervalMs: 2 },
  );
}

async function main() {
  const docker = await requireDocker();
  const cluster = await startCluster({ workers: 1, workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '4' }) });
  const api = connect(TaskServiceDefinition, cluster.masterAddr, { bearer: () => cluster.userToken });
  try {
    // Warm both paths (image layers, code paths) before measuring.
    for (let i = 0; i < 3; i++) {
      await rawRun(docker);
      await systemRun(api.client);
    }
    const raw = [];
    const sys = [];
    // Interleave so drift on the machine affects both sides alike.
    for (let i = 0; i < RUNS; i++) {
      raw.push(await rawRun(docker));
      sys.push(await systemRun(api.client));
    }
    const rawStart = median(raw.map((r) => r.start));
    const sysStart = median(sys.map((r) => r.start));
    const rawE2e = median(raw.map((r) => r.e2e));
    const sysE2e = median(sys.map((r) => r.e2e));
    const startOverhead = sysStart - rawStart;
    const e2eRatio = sysE2e / rawE2e;
    console.log(`overhead (${RUNS} tasks, image ${TEST_IMAGE}, command ${CMD.join(' ')})`);
    console.log(`  start: cloudai submit→RUNNING median ${fmt(sysStart)} ms, raw create+start ${fmt(rawStart)} ms`);
    console.log(`         overhead ${fmt(startOverhead)} ms (target ≤ 150 ms: ${verdict(startOverhead <= 150)})`);
    console.log(`  e2e:   cloudai submit→SUCCEEDED median ${fmt(sysE2e)} ms, raw docker run --rm ${fmt(rawE2e)} ms`);
    console.log(`         ratio ${fmt(e2eRatio, 2)}× (target ≤ 1.3×: ${verdict(e2eRatio <= 1.3)})`);
    result('overhead', {
      runs: RUNS,
      rawStartMs: rawStart,
      systemStartMs: sysStart,
      startOverheadMs: startOverhead,
      rawE2eMs: rawE2e,
      systemE2eMs: sysE2e,
      e2eRatio,
    });
  } finally {
    api.close();
    await cluster.stop();
  }
}

await main();
