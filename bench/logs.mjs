#!/usr/bin/env node
// logs: the log path end to end, against Docker's own log driver in the same run.
//   latency:    a task prints one line every 10 ms for 10 s, each stamped with the
//               container's clock (µs); a following StreamLogs client measures
//               container write → client receive. Target p99 ≤ 250 ms.
//   throughput: a task writes 200 MiB (7/8 to stdout, 1/8 to stderr, at once) as
//               fast as it can. Against a raw `docker run` of the same
//               deterministic command with the json-file log, in the same run:
//               the stored log byte-identical to `docker logs` (sha256 per
//               stream), stored bytes/s ≥ 2× the raw run's, the container's own
//               run time ≤ 1.1× the raw run's (never stalled), peak RSS of
//               worker and master ≤ 128 MiB each.
//   latency under load: the latency task again while another task bursts.
//   followers:  BENCH_LOG_FOLLOWERS (20) clients follow one task's log while
//               it writes BENCH_LOG_FOLLOW_MIB (50) MiB; each must receive all
//               of it, and the master's peak RSS stays ≤ 128 MiB.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { LogStream, TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { requireDocker, startCluster, TEST_IMAGE } from '@cloudai/testing';
import { fmt, percentile, pollUntil, result, verdict } from './lib.mjs';

const LINES = Number(process.env.BENCH_LOG_LINES ?? 1000);
const MIB = Number(process.env.BENCH_LOG_MIB ?? 200);
const FOLLOWERS = Number(process.env.BENCH_LOG_FOLLOWERS ?? 20);
const FOLLOW_MIB = Number(process.env.BENCH_LOG_FOLLOW_MIB ?? 50);
// Passed to every app as NODE_OPTIONS (say `--cpu-prof --cpu-prof-dir=…` to profile a run).
const APP_ENV = process.env.BENCH_APP_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS } : {};

const latencyScript =
  `i=0; while [ $i -lt ${LINES} ]; do ` +
  `adjtimex | awk -v i=$i '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d %d%06d\\n", i, s, u}'; ` +
  `i=$((i+1)); usleep 10000; done`;
// Deterministic, so a raw run produces the very same bytes on each stream.
const ERR_BYTES = Math.floor((MIB * 1024 * 1024) / 8);
const OUT_BYTES = MIB * 1024 * 1024 - ERR_BYTES;
const throughputScript =
  `(yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${OUT_BYTES}) & ` +
  `(yes stderr-line-abcdefghijklmnopqrstuvwxyz | head -c ${ERR_BYTES} >&2) & wait`;

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

/** Bytes and sha256 of each stream, fed chunk by chunk. */
function streamDigests() {
  const d = { stdout: createHash('sha256'), stderr: createHash('sha256'), bytes: { stdout: 0, stderr: 0 } };
  return {
    add(stream, data) {
      d[stream].update(data);
      d.bytes[stream] += data.length;
    },
    result: () => ({ stdout: d.stdout.digest('hex'), stderr: d.stderr.digest('hex'), bytes: d.bytes }),
  };
}

/** The container's own run time, from the engine: started → finished. */
async function containerSeconds(container) {
  const { State } = await container.inspect();
  return (Date.parse(State.FinishedAt) - Date.parse(State.StartedAt)) / 1000;
}

/** Peak RSS of the worker and master while `work` runs, sampled from /proc (VmHWM is per process, from its start). */
async function peakDuring(pids, work) {
  const peak = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  // Where each process stood before: the peak less this is what the work cost.
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rss(pid)]));
  const timer = setInterval(() => {
    for (const [k, pid] of Object.entries(pids)) peak[k] = Math.max(peak[k], rss(pid));
  }, 20);
  try {
    return { value: await work(), peak, start };
  } finally {
    clearInterval(timer);
  }
}

async function throughput(client, cluster, docker) {
  const workerId = cluster.workerId(1);
  const pids = { worker: cluster.apps.get('worker-1').child.pid, master: cluster.apps.get('master').child.pid };
  // Containers of this worker, to read the engine's run time of the task's own.
  const taskContainer = async (taskId) => {
    const list = await docker.listContainers({ all: true, filters: { label: [`cloudai.task_id=${taskId}`, `cloudai.worker_id=${workerId}`] } });
    return list[0] ? docker.getContainer(list[0].Id) : undefined;
  };
  const { value: run, peak, start } = await peakDuring(pids, async () => {
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
    // The worker removes the container once it has exited: read its times before.
    let runSeconds = NaN;
    const watch = (async () => {
      const c = await pollUntil(() => taskContainer(task.taskId), { what: 'the task container', intervalMs: 5 });
      for (;;) {
        const info = await c.inspect().catch(() => undefined);
        if (!info) return;
        if (!info.State.Running && info.State.FinishedAt && !info.State.FinishedAt.startsWith('0001')) {
          runSeconds = (Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt)) / 1000;
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const done = await waitDone(client, task.taskId);
    await watch;
    return { task: done, seconds: (done.finishedAt.getTime() - running.startedAt.getTime()) / 1000, runSeconds };
  });
  const stored = streamDigests();
  const tRead = performance.now();
  let markers = 0;
  let droppedBytes = 0;
  for await (const msg of client.streamLogs({ taskId: run.task.taskId }, { deadline: undefined })) {
    if (msg.outcome) droppedBytes = Number(msg.outcome.droppedBytes);
    if (!msg.entry) continue;
    if (msg.entry.marker) {
      markers++;
      continue;
    }
    const c = msg.entry.chunk;
    stored.add(c.stream === LogStream.LOG_STREAM_STDERR ? 'stderr' : 'stdout', c.data);
  }
  const readSeconds = (performance.now() - tRead) / 1000;
  const s = stored.result();
  const storedBytes = s.bytes.stdout + s.bytes.stderr;

  // Baseline: the same command run raw; Docker's json-file driver keeps its log.
  const tRaw = performance.now();
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ['sh', '-c', throughputScript],
    HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'json-file', Config: {} } },
  });
  await c.start();
  await c.wait();
  const rawRunSeconds = (performance.now() - tRaw) / 1000;
  const rawContainerSeconds = await containerSeconds(c);
  const raw = streamDigests();
  const logs = await c.logs({ stdout: true, stderr: true, follow: true });
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (b) => raw.add('stdout', b));
  err.on('data', (b) => raw.add('stderr', b));
  docker.modem.demuxStream(logs, out, err);
  await new Promise((resolve, reject) => {
    logs.on('end', resolve);
    logs.on('error', reject);
  });
  await c.remove({ force: true });
  const r = raw.result();
  const rawBytes = r.bytes.stdout + r.bytes.stderr;
  return {
    bytes: storedBytes,
    status: TaskStatus[run.task.status],
    reason: run.task.reason,
    droppedBytes,
    markers,
    storedMBps: storedBytes / 1e6 / run.seconds,
    rawRunMBps: rawBytes / 1e6 / rawRunSeconds,
    containerSeconds: run.runSeconds,
    rawContainerSeconds,
    readBackMBps: storedBytes / 1e6 / readSeconds,
    identical: { stdout: s.stdout === r.stdout && s.bytes.stdout === r.bytes.stdout, stderr: s.stderr === r.stderr && s.bytes.stderr === r.bytes.stderr },
    storedStreamBytes: s.bytes,
    rawStreamBytes: r.bytes,
    rawBytes,
    workerPeakRssMb: peak.worker,
    masterPeakRssMb: peak.master,
    workerStartRssMb: start.worker,
    masterStartRssMb: start.master,
  };
}

/** The latency task while a 200 MiB burst runs beside it. */
async function latencyUnderBurst(client) {
  const { task } = await client.submitTask({
    spec: { image: TEST_IMAGE, command: ['sh', '-c', throughputScript], resources: { cpu: 1, memoryGb: 1 } },
  });
  await pollUntil(
    async () => {
      const { task: t } = await client.getTask({ taskId: task.taskId });
      return t.startedAt ? t : undefined;
    },
    { what: `task ${task.taskId} to start`, intervalMs: 5 },
  );
  const lat = await latency(client);
  await waitDone(client, task.taskId);
  return lat;
}

/** FOLLOWERS clients following one task's log from its start while it writes FOLLOW_MIB MiB. */
async function followers(client, cluster) {
  const bytes = FOLLOW_MIB * 1024 * 1024;
  const script = `yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${bytes}`;
  const pids = { worker: cluster.apps.get('worker-1').child.pid, master: cluster.apps.get('master').child.pid };
  const { value, peak, start } = await peakDuring(pids, async () => {
    const { task } = await client.submitTask({ spec: { image: TEST_IMAGE, command: ['sh', '-c', script], resources: { cpu: 1, memoryGb: 1 } } });
    const t0 = performance.now();
    const follow = async () => {
      const hash = createHash('sha256');
      let got = 0;
      for await (const msg of client.streamLogs({ taskId: task.taskId, follow: true }, { deadline: undefined })) {
        if (!msg.entry || msg.entry.marker) continue;
        hash.update(msg.entry.chunk.data);
        got += msg.entry.chunk.data.length;
      }
      return { got, sha: hash.digest('hex') };
    };
    const results = await Promise.all(Array.from({ length: FOLLOWERS }, follow));
    return { results, seconds: (performance.now() - t0) / 1000 };
  });
  const expected = value.results[0]?.sha;
  const complete = value.results.every((r) => r.got === bytes && r.sha === expected);
  return { followers: FOLLOWERS, mib: FOLLOW_MIB, complete, seconds: value.seconds, masterPeakRssMb: peak.master, masterStartRssMb: start.master, workerPeakRssMb: peak.worker };
}

const docker = await requireDocker();
const cluster = await startCluster({
  workers: 1,
  env: APP_ENV,
  workerEnv: () => ({
    WORKER_CPU: '2',
    WORKER_MEMORY_GB: '4',
    ...(process.env.BENCH_LOG_BUFFER_MIB ? { WORKER_LOG_BUFFER_BYTES: String(Number(process.env.BENCH_LOG_BUFFER_MIB) * 1024 * 1024) } : {}),
  }),
  // Room for two bursts' logs, so the cap drops nothing.
  masterEnv: { LOG_MAX_BYTES_PER_TASK: String((MIB + 16) * 1024 * 1024) },
});
const api = connect(TaskServiceDefinition, cluster.masterAddr, { defaultDeadlineMs: 600_000, bearer: () => cluster.userToken });
const line = (label, figure, target, ok, baseline) =>
  console.log(`  ${label.padEnd(34)} ${figure.padEnd(22)} target ${target.padEnd(26)} ${verdict(ok)}${baseline ? `   (baseline: ${baseline})` : ''}`);
try {
  const lat = await latency(api.client);
  const tp = await throughput(api.client, cluster, docker);
  const busy = await latencyUnderBurst(api.client);
  const fol = FOLLOWERS > 0 ? await followers(api.client, cluster) : undefined;
  const ratio = tp.storedMBps / tp.rawRunMBps;
  const runRatio = tp.containerSeconds / tp.rawContainerSeconds;
  console.log(`logs: ${MIB} MiB burst (${fmt(OUT_BYTES / 2 ** 20)} MiB stdout, ${fmt(ERR_BYTES / 2 ** 20)} MiB stderr), ${tp.status}`);
  line('stored log vs docker logs', `${tp.identical.stdout ? 'identical' : 'DIFFERS'} / ${tp.identical.stderr ? 'identical' : 'DIFFERS'}`, 'byte-identical (out/err)',
    tp.identical.stdout && tp.identical.stderr,
    `stored ${tp.storedStreamBytes.stdout}+${tp.storedStreamBytes.stderr} B, docker ${tp.rawStreamBytes.stdout}+${tp.rawStreamBytes.stderr} B; dropped ${tp.droppedBytes}, markers ${tp.markers}`);
  line('stored rate', `${fmt(tp.storedMBps)} MB/s (${fmt(ratio, 2)}×)`, '≥ 2× raw docker run', ratio >= 2, `raw docker run + json-file ${fmt(tp.rawRunMBps)} MB/s`);
  line('container run time', `${fmt(tp.containerSeconds, 2)} s (${fmt(runRatio, 2)}×)`, '≤ 1.1× raw run', runRatio <= 1.1, `raw run ${fmt(tp.rawContainerSeconds, 2)} s`);
  line('worker peak RSS', `${fmt(tp.workerPeakRssMb)} MiB`, '≤ 128 MiB', tp.workerPeakRssMb <= 128, `${fmt(tp.workerStartRssMb)} MiB before the burst`);
  line('master peak RSS', `${fmt(tp.masterPeakRssMb)} MiB`, '≤ 128 MiB', tp.masterPeakRssMb <= 128, `${fmt(tp.masterStartRssMb)} MiB before the burst`);
  line('log latency p99, idle', `${fmt(lat.p99)} ms (p50 ${fmt(lat.p50)})`, '≤ 250 ms', lat.p99 <= 250, `${lat.lines} lines, max ${fmt(lat.max)} ms`);
  line('log latency p99, beside a burst', `${fmt(busy.p99)} ms (p50 ${fmt(busy.p50)})`, '≤ 250 ms', busy.p99 <= 250, `${busy.lines} lines, max ${fmt(busy.max)} ms`);
  if (fol) {
    line(`${fol.followers} followers of ${fol.mib} MiB: all of it`, fol.complete ? 'every byte, each' : 'INCOMPLETE', 'every byte to each', fol.complete,
      `${fmt(fol.seconds, 1)} s`);
    line(`${fol.followers} followers: master peak RSS`, `${fmt(fol.masterPeakRssMb)} MiB`, '≤ 128 MiB', fol.masterPeakRssMb <= 128,
      `${fmt(fol.masterStartRssMb)} MiB before; worker ${fmt(fol.workerPeakRssMb)} MiB`);
  }
  console.log(`  read back through StreamLogs ${fmt(tp.readBackMBps)} MB/s`);
  result('logs', { latency: lat, latencyUnderBurst: busy, throughput: tp, followers: fol });
} finally {
  api.close();
  await cluster.stop();
}
