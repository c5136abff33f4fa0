#!/usr/bin/env node
// logs: the log path end to end, against Docker's own log driver in the same run.
//   latency:    a task prints one line every 10 ms for 10 s, each stamped with the
//               container's clock (µs); a following StreamLogs client measures
//               container write → client receive. Target p99 ≤ 250 ms.
//   throughput: a task writes 200 MiB to stdout as fast as it can; stored bytes/s
//               (target ≥ 20 MB/s), peak RSS of worker and master, and the stored
//               log compared byte-for-byte (sha256) with `docker logs` of a raw
//               run of the same deterministic command.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { requireDocker, startCluster, TEST_IMAGE } from '@cloudai/testing';
import { fmt, percentile, pollUntil, result, verdict } from './lib.mjs';

const LINES = Number(process.env.BENCH_LOG_LINES ?? 1000);
const MIB = Number(process.env.BENCH_LOG_MIB ?? 200);

const latencyScript =
  `i=0; while [ $i -lt ${LINES} ]; do ` +
  `adjtimex | awk -v i=$i '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d %d%06d\\n", i, s, u}'; ` +
  `i=$((i+1)); usleep 10000; done`;
// Deterministic, so a raw run produces the very same bytes.
const throughputScript = `yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${MIB * 1024 * 1024}`;

function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function waitDone(client, taskId) {
  return pollUntil(
    async () => {
      const { task } = await client.getTask({ taskId });
      return task.status >= TaskStatus.TASK_STATUS_SUCCEEDED ? task : undefined;
    },
    { what: `task ${taskId} to end`, timeoutMs: 600_000 },
  );
}

async function latency(client) {
  const { task } = await client.submitTask({ spec: { image: TEST_IMAGE, command: ['sh', '-c', latencyScript] } });
  const delays = [];
  let rest = '';
  for await (const msg of client.streamLogs({ taskId: task.taskId, follow: true }, { deadline: undefined })) {
    if (!msg.entry) break;
    const now = (performance.timeOrigin + performance.now()) * 1000;
    const lines = (rest + Buffer.from(msg.entry.chunk.data).toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const [, us] = line.split(' ');
      if (us) delays.push((now - Number(us)) / 1000);
    }
  }
  return { lines: delays.length, p50: percentile(delays, 50), p99: percentile(delays, 99), max: Math.max(...delays) };
}

async function throughput(client, cluster, docker) {
  const workerPid = cluster.apps.get('worker-1').child.pid;
  const masterPid = cluster.apps.get('master').child.pid;
  const rssBefore = { worker: peakRssMb(workerPid), master: peakRssMb(masterPid) };
  const { task } = await client.submitTask({
    spec: { image: TEST_IMAGE, command: ['sh', '-c', throughputScript], resources: { cpu: 1, memoryGb: 1 } },
  });
  const running = await pollUntil(
    async () => {
      const { task: t } = await client.getTask({ taskId: task.taskId });
      return t.startedAt ? t : undefined;
    },
    { what: `task ${task.taskId} to start`, intervalMs: 5 },
  );
  const done = await waitDone(client, task.taskId);
  const seconds = (done.finishedAt.getTime() - running.startedAt.getTime()) / 1000;
  const stored = createHash('sha256');
  let storedBytes = 0;
  const tRead = performance.now();
  for await (const msg of client.streamLogs({ taskId: task.taskId }, { deadline: undefined })) {
    if (!msg.entry || msg.entry.marker) continue;
    stored.update(msg.entry.chunk.data);
    storedBytes += msg.entry.chunk.data.length;
  }
  const readSeconds = (performance.now() - tRead) / 1000;

  // Baseline: the same command run raw; Docker's json-file driver keeps its log.
  const tRaw = performance.now();
  const c = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sh', '-c', throughputScript], HostConfig: { NetworkMode: 'none' } });
  await c.start();
  await c.wait();
  const rawRunSeconds = (performance.now() - tRaw) / 1000;
  const raw = createHash('sha256');
  let rawBytes = 0;
  const logs = await c.logs({ stdout: true, stderr: false, follow: true });
  const out = new PassThrough();
  out.on('data', (b) => {
    raw.update(b);
    rawBytes += b.length;
  });
  docker.modem.demuxStream(logs, out, new PassThrough().resume());
  await new Promise((resolve, reject) => {
    logs.on('end', resolve);
    logs.on('error', reject);
  });
  await c.remove({ force: true });
  return {
    bytes: storedBytes,
    status: TaskStatus[done.status],
    reason: done.reason,
    storedMBps: storedBytes / 1e6 / seconds,
    rawRunMBps: rawBytes / 1e6 / rawRunSeconds,
    readBackMBps: storedBytes / 1e6 / readSeconds,
    identical: stored.digest('hex') === raw.digest('hex') && storedBytes === rawBytes,
    rawBytes,
    workerPeakRssMb: Math.max(rssBefore.worker, peakRssMb(workerPid)),
    masterPeakRssMb: Math.max(rssBefore.master, peakRssMb(masterPid)),
  };
}

const docker = await requireDocker();
const cluster = await startCluster({
  workers: 1,
  // BENCH_LOG_BUFFER_MIB sets the worker's bounded log buffer (default 16 MiB):
  // at full speed the producer outruns shipping and the excess is dropped;
  // a buffer as big as the burst keeps every byte.
  workerEnv: () => ({
    WORKER_CPU: '2',
    WORKER_MEMORY_GB: '4',
    ...(process.env.BENCH_LOG_BUFFER_MIB ? { WORKER_LOG_BUFFER_BYTES: String(Number(process.env.BENCH_LOG_BUFFER_MIB) * 1024 * 1024) } : {}),
  }),
  masterEnv: { LOG_MAX_BYTES_PER_TASK: String((MIB + 16) * 1024 * 1024) },
});
const api = connect(TaskServiceDefinition, cluster.masterAddr, { defaultDeadlineMs: 600_000, bearer: () => cluster.userToken });
try {
  const lat = await latency(api.client);
  console.log(`latency: ${lat.lines} lines, container write → monitor client: p50 ${fmt(lat.p50)} ms, p99 ${fmt(lat.p99)} ms, max ${fmt(lat.max)} ms`);
  console.log(`         target p99 ≤ 250 ms: ${verdict(lat.p99 <= 250)}`);
  const tp = await throughput(api.client, cluster, docker);
  console.log(`throughput: ${MIB} MiB to stdout: stored ${fmt(tp.storedMBps)} MB/s (target ≥ 20 MB/s: ${verdict(tp.storedMBps >= 20)}); ` +
    `raw docker run with json-file log ${fmt(tp.rawRunMBps)} MB/s (ratio ${fmt(tp.storedMBps / tp.rawRunMBps, 2)}×)`);
  console.log(`            worker log buffer ${process.env.BENCH_LOG_BUFFER_MIB ?? 16} MiB; dropped ${tp.rawBytes - tp.bytes} bytes`);
  console.log(`            read back through StreamLogs ${fmt(tp.readBackMBps)} MB/s; stored log ${tp.identical ? 'IDENTICAL to' : 'DIFFERS from'} docker logs (${tp.bytes} vs ${tp.rawBytes} bytes)`);
  console.log(`            peak RSS: worker ${fmt(tp.workerPeakRssMb)} MB, master ${fmt(tp.masterPeakRssMb)} MB`);
  result('logs', { latency: lat, throughput: tp });
} finally {
  api.close();
  await cluster.stop();
}
