#!/usr/bin/env node
// transfer: task outputs from container exit to storage's acknowledgement,
// against a raw copy of the same data on the same disk in the same run.
//   - one task writing a single 1 GiB file; one writing 10,000 files of 4 KiB
//   - upload chunk sizes 64 KiB, 256 KiB and 1 MiB (WORKER_UPLOAD_CHUNK_BYTES)
//   - peak RSS growth of worker and storage during the uploads
//   - `cloudai download` of the 1 GiB output: MB/s and the CLI's peak RSS
//   - the 1 GiB upload (1 MiB chunks) and its download with mTLS on every
//     hop against plaintext, alternating between two clusters that run side
//     by side, so that both meet the disk in the same state
//   - the transport's ceiling: a bare nice-grpc client stream of the same
//     bytes in 1 MiB messages between two Node processes on loopback
//     (bench/grpc-ceiling.mjs), with Node's default HTTP/2 windows and with
//     the widened ones the apps use; the faster of the two is the ceiling
// Targets: the 1 GiB output ≥ 80% of the gRPC ceiling and ≥ 35% of the raw
// copy made durable; 10,000 × 4 KiB ≥ 50% of the durable `cp -r`; RSS
// growth of worker and storage during the uploads ≤ 64 MiB each; the
// download's CLI peak RSS ≤ 96 MiB; under TLS ≥ 70% of the plaintext rate.
//
// Storage acknowledges an upload only once it is on disk (STORAGE_FSYNC), so
// the like-for-like baseline is the raw copy made durable with sync; the
// plain copy (which ends in the page cache) is reported beside it. This
// VM's disk swings by 10x in file-creation speed while it writes back, so
// every phase starts after a sync (the tasks end with one) and the raw copy
// is measured again next to each upload.
//
// The disk has a burst budget: rested, a durable copy runs near 1 GB/s;
// spent, near 200 MB/s, and then the disk rather than cloudai bounds the
// upload. Before each round the bench probes a durable 256 MiB write and,
// while it is slower than BENCH_DISK_RESTED_MBPS, waits (up to
// BENCH_DISK_REST_S in all) for the disk to recover; it prints whether the
// disk was rested.
//
// BENCH_APP_NODE_OPTIONS is passed to every app as NODE_OPTIONS (say
// `--cpu-prof --cpu-prof-dir=/tmp/prof`); BENCH_TLS=0 skips the TLS rounds.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { appMain, requireDocker, startCluster, tempDir, TEST_IMAGE } from '@cloudai/testing';
import { fmt, pollUntil, result, verdict } from './lib.mjs';

const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 10_000);
const CHUNKS = (process.env.BENCH_CHUNKS ?? '65536,262144,1048576').split(',').map(Number);
const TLS_ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 2);
const TLS = process.env.BENCH_TLS !== '0';
const DISK_RESTED_MBPS = Number(process.env.BENCH_DISK_RESTED_MBPS ?? 450);
const DISK_REST_S = Number(process.env.BENCH_DISK_REST_S ?? 300);
const APP_ENV = process.env.BENCH_APP_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS } : {};
const here = dirname(fileURLToPath(import.meta.url));
/** The window the apps' HTTP/2 ends use (packages/rpc's FLOW_CONTROL_WINDOW_BYTES). */
const APP_WINDOW_BYTES = 8 * 1024 * 1024;

const BIG = `head -c ${BIG_MIB * 1024 * 1024} /dev/zero | tr '\\0' x > /output/big.bin; sync`;
const SMALL =
  `mkdir -p /output/small; i=0; while [ $i -lt ${SMALL_FILES} ]; do ` +
  `head -c 4096 /dev/zero > /output/small/f$i; i=$((i+1)); done; sync`;

/** CPU seconds (user + system) the process has used so far. */
async function cpuSeconds(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

async function peakRssMb(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/**
 * Runs one task; returns its bytes and the seconds from the container's exit
 * (packing starts) to storage's acknowledgement, as the worker logs them.
 */
async function upload(client, worker, script) {
  const { task } = await client.submitTask({ spec: { image: TEST_IMAGE, command: ['sh', '-c', script], resources: { cpu: 1, memoryGb: 1, storageGb: 4 } } });
  return pollUntil(
    async () => {
      const { task: t } = await client.getTask({ taskId: task.taskId });
      if (t.status < TaskStatus.TASK_STATUS_SUCCEEDED) return undefined;
      if (t.status !== TaskStatus.TASK_STATUS_SUCCEEDED) throw new Error(`task ${TaskStatus[t.status]}: ${t.reason}`);
      const stored = worker.logs.find((l) => l.msg === 'outputs stored' && l.taskId === t.taskId);
      if (typeof stored?.ms !== 'number') throw new Error(`the worker logged no upload time for task ${t.taskId}`);
      return { taskId: t.taskId, bytes: t.outputBytes, files: t.outputFiles.length, seconds: stored.ms / 1000 };
    },
    { what: `task ${task.taskId} to succeed`, timeoutMs: 900_000, intervalMs: 50 },
  );
}

/** The same bytes copied on the same disk: the ceiling for storing them. */
async function rawCopies(dir) {
  const src = join(dir, 'src');
  await mkdir(join(src, 'small'), { recursive: true });
  execFileSync('sh', ['-c', `head -c ${BIG_MIB * 1024 * 1024} /dev/zero | tr '\\0' x > ${src}/big.bin`]);
  const block = Buffer.alloc(4096, 0);
  for (let i = 0; i < SMALL_FILES; i++) await writeFile(join(src, 'small', `f${i}`), block);
  execFileSync('sync');
  // Two baselines: a plain copy (lands in the page cache, as storage's
  // writes do) and the same copy made durable with sync.
  const time = (cmd) => {
    execFileSync('sync');
    const t = performance.now();
    execFileSync('sh', ['-c', cmd]);
    return (performance.now() - t) / 1000;
  };
  const bigSeconds = time(`cat ${src}/big.bin > ${dir}/big.copy`);
  const smallSeconds = time(`cp -r ${src}/small ${dir}/small.copy`);
  const bigSyncSeconds = time(`cat ${src}/big.bin > ${dir}/big.copy2 && sync`);
  const smallSyncSeconds = time(`cp -r ${src}/small ${dir}/small.copy2 && sync`);
  await rm(dir, { recursive: true, force: true });
  execFileSync('sync');
  const smallMB = (SMALL_FILES * 4096) / 1e6;
  return {
    bigMBps: (BIG_MIB * 1.048576) / bigSeconds,
    smallMBps: smallMB / smallSeconds,
    smallFilesPerSec: SMALL_FILES / smallSeconds,
    bigSyncMBps: (BIG_MIB * 1.048576) / bigSyncSeconds,
    smallSyncMBps: smallMB / smallSyncSeconds,
  };
}

/** MB/s of a durable 256 MiB write (dd with fdatasync) in `dir`. */
function probeDisk(dir) {
  const file = join(dir, 'probe');
  const t = performance.now();
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=256', 'conv=fdatasync'], { stdio: 'ignore' });
  const seconds = (performance.now() - t) / 1000;
  execFileSync('rm', ['-f', file]);
  return 268.435456 / seconds;
}

/**
 * Probes the disk and, while it is slower than a rested one, waits for it
 * to recover its burst budget. Returns the last probe and whether it passed.
 */
async function restDisk(dir) {
  const giveUpAt = performance.now() + DISK_REST_S * 1000;
  let waited = 0;
  for (;;) {
    execFileSync('sync');
    const MBps = probeDisk(dir);
    if (MBps >= DISK_RESTED_MBPS) return { rested: true, probeMBps: MBps, waitedS: waited };
    if (performance.now() + 30_000 > giveUpAt) return { rested: false, probeMBps: MBps, waitedS: waited };
    console.log(`disk probe ${fmt(MBps)} MB/s < ${DISK_RESTED_MBPS}: resting it 30 s`);
    await new Promise((r) => setTimeout(r, 30_000));
    waited += 30;
  }
}

/** Runs bench/grpc-ceiling.mjs once: the bare stream's MB/s with the given HTTP/2 window (0: Node's default). */
async function ceilingOnce(window) {
  const script = join(here, 'grpc-ceiling.mjs');
  const server = spawn(process.execPath, [script, 'serve', String(window)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((res, rej) => {
      let out = '';
      server.stdout.on('data', (b) => {
        out += b;
        if (out.includes('\n')) res(Number(out.trim()));
      });
      server.once('exit', (code) => rej(new Error(`the ceiling's server exited (${code})`)));
    });
    const out = execFileSync(process.execPath, [script, 'send', String(port), String(BIG_MIB), String(window)], { encoding: 'utf8' });
    return (BIG_MIB * 1.048576) / JSON.parse(out).seconds;
  } finally {
    server.kill();
  }
}

/** The transport's ceiling: the faster of Node's default windows and the apps' widened ones. */
async function grpcCeiling() {
  const defaultMBps = await ceilingOnce(0);
  const widenedMBps = await ceilingOnce(APP_WINDOW_BYTES);
  return { defaultMBps, widenedMBps, MBps: Math.max(defaultMBps, widenedMBps) };
}

async function download(masterAddr, taskId, token, cliTlsArgs = []) {
  const out = await tempDir('cloudai-bench-dl-');
  const t = performance.now();
  const args = ['--master', masterAddr, ...cliTlsArgs, 'download', taskId, '--out', out.path, '--file', 'big.bin'];
  const child = spawn(process.execPath, [appMain('cli'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CLOUDAI_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  let peak = 0;
  const sampler = setInterval(() => {
    // An exiting process has a status file without VmHWM: NaN, skipped.
    peakRssMb(child.pid).then((v) => (peak = Number.isNaN(v) ? peak : Math.max(peak, v)), () => {});
  }, 20);
  const code = await new Promise((r) => child.on('exit', r));
  clearInterval(sampler);
  const seconds = (performance.now() - t) / 1000;
  await out.remove();
  if (code !== 0) throw new Error(`cloudai download exited ${code}: ${stderr}`);
  return { MBps: (BIG_MIB * 1.048576) / seconds, cliPeakRssMb: peak };
}

await requireDocker();

const rows = [];
let best;
for (const chunk of CHUNKS) {
  const probeDir = await tempDir('cloudai-bench-probe-');
  const disk = await restDisk(probeDir.path);
  await probeDir.remove();
  console.log(
    `disk: ${disk.rested ? 'rested' : 'NOT rested'} (durable 256 MiB write ${fmt(disk.probeMBps)} MB/s, ` +
      `threshold ${DISK_RESTED_MBPS}; waited ${disk.waitedS} s)`,
  );
  const ceiling = await grpcCeiling();
  console.log(
    `gRPC ceiling (bare nice-grpc stream, 1 MiB messages, ${BIG_MIB} MiB): ${fmt(ceiling.MBps)} MB/s ` +
      `(Node's default windows ${fmt(ceiling.defaultMBps)}, widened ${fmt(ceiling.widenedMBps)})`,
  );
  const cluster = await startCluster({
    workers: 1,
    env: APP_ENV,
    workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '4', WORKER_STORAGE_GB: '20', WORKER_UPLOAD_CHUNK_BYTES: String(chunk) }),
  });
  const api = connect(TaskServiceDefinition, cluster.masterAddr, { defaultDeadlineMs: 600_000, bearer: () => cluster.userToken });
  try {
    // The baseline of this round, on the disk as it is now.
    const scratch = await tempDir('cloudai-bench-raw-');
    const raw = await rawCopies(scratch.path);
    await scratch.remove();
    console.log(
      `raw copy: ${fmt(raw.bigMBps)} MB/s for one ${BIG_MIB} MiB file, ${fmt(raw.smallFilesPerSec, 0)} files/s for ${SMALL_FILES} × 4 KiB; ` +
        `with sync: ${fmt(raw.bigSyncMBps)} MB/s, ${fmt(raw.smallSyncMBps / (4096 / 1e6), 0)} files/s`,
    );
    const worker = cluster.apps.get('worker-1');
    const workerPid = worker.child.pid;
    const storagePid = cluster.apps.get('storage').child.pid;
    // A first task warms the apps up (container start, logs, the upload's
    // code paths): what grows after it is the uploads' own doing.
    const cold = { worker: await peakRssMb(workerPid), storage: await peakRssMb(storagePid) };
    await upload(api.client, worker, 'echo warm > /output/warm.txt');
    const before = { worker: await peakRssMb(workerPid), storage: await peakRssMb(storagePid) };
    const cpu0 = { worker: await cpuSeconds(workerPid), storage: await cpuSeconds(storagePid) };
    const big = await upload(api.client, worker, BIG);
    const cpu1 = { worker: await cpuSeconds(workerPid), storage: await cpuSeconds(storagePid) };
    // Peaks are high-water marks: read now, they are the 1 GiB upload's alone.
    const afterBig = { worker: await peakRssMb(workerPid), storage: await peakRssMb(storagePid) };
    const small = await upload(api.client, worker, SMALL);
    const cpu2 = { worker: await cpuSeconds(workerPid), storage: await cpuSeconds(storagePid) };
    const after = { worker: await peakRssMb(workerPid), storage: await peakRssMb(storagePid) };
    const row = {
      chunkBytes: chunk,
      disk,
      ceiling,
      raw,
      bigMBps: big.bytes / 1e6 / big.seconds,
      smallMBps: small.bytes / 1e6 / small.seconds,
      smallFilesPerSec: small.files / small.seconds,
      bigRssGrowthMb: { worker: afterBig.worker - before.worker, storage: afterBig.storage - before.storage },
      workerRssGrowthMb: after.worker - before.worker,
      storageRssGrowthMb: after.storage - before.storage,
      // growth from the apps' start, the warm-up task included
      workerRssGrowthColdMb: after.worker - cold.worker,
      storageRssGrowthColdMb: after.storage - cold.storage,
      // CPU seconds of each app per upload (the 1 GiB one includes the container's run; so does the small one)
      cpuBig: { worker: cpu1.worker - cpu0.worker, storage: cpu1.storage - cpu0.storage },
      cpuSmall: { worker: cpu2.worker - cpu1.worker, storage: cpu2.storage - cpu1.storage },
    };
    row.bigVsCeiling = row.bigMBps / ceiling.MBps;
    row.bigVsRaw = row.bigMBps / raw.bigMBps;
    row.smallVsRaw = row.smallMBps / raw.smallMBps;
    row.bigVsRawSync = row.bigMBps / raw.bigSyncMBps;
    row.smallVsRawSync = row.smallMBps / raw.smallSyncMBps;
    if (!best || row.bigVsCeiling > best.row.bigVsCeiling) best = { row, taskId: big.taskId };
    // Downloads do not depend on the upload chunk size: measure once.
    if (chunk === CHUNKS[CHUNKS.length - 1]) row.download = await download(cluster.masterAddr, big.taskId, cluster.userToken);
    rows.push(row);
    console.log(
      `RSS of the ${BIG_MIB} MiB upload (chunk ${chunk / 1024} KiB): worker +${fmt(row.bigRssGrowthMb.worker)} MiB, ` +
        `storage +${fmt(row.bigRssGrowthMb.storage)} MiB (target ≤ 64 MiB each: ${verdict(Math.max(row.bigRssGrowthMb.worker, row.bigRssGrowthMb.storage) <= 64)})`,
    );
    console.log(
      `chunk ${String(chunk / 1024).padStart(5)} KiB: 1 GiB file ${fmt(row.bigMBps)} MB/s (${fmt(row.bigVsCeiling * 100, 0)}% of the gRPC ceiling, ` +
        `${fmt(row.bigVsRaw * 100, 0)}% of raw, ${fmt(row.bigVsRawSync * 100, 0)}% of raw+sync), ` +
        `${SMALL_FILES} small files ${fmt(row.smallMBps)} MB/s = ${fmt(row.smallFilesPerSec, 0)} files/s (${fmt(row.smallVsRaw * 100, 0)}% of raw, ${fmt(row.smallVsRawSync * 100, 0)}% of raw+sync); ` +
        `RSS growth worker ${fmt(row.workerRssGrowthMb)} MiB, storage ${fmt(row.storageRssGrowthMb)} MiB ` +
        `(from the apps' start: ${fmt(row.workerRssGrowthColdMb)}, ${fmt(row.storageRssGrowthColdMb)}); ` +
        `CPU s worker/storage: 1 GiB ${fmt(row.cpuBig.worker, 2)}/${fmt(row.cpuBig.storage, 2)}, small ${fmt(row.cpuSmall.worker, 2)}/${fmt(row.cpuSmall.storage, 2)}` +
        (row.download ? `; download ${fmt(row.download.MBps)} MB/s, CLI peak RSS ${fmt(row.download.cliPeakRssMb)} MiB` : ''),
    );
  } finally {
    api.close();
    await cluster.stop();
  }
}
/**
 * The 1 GiB upload over mTLS against plaintext: two clusters side by side,
 * uploads alternating between them, then one download from each.
 */
async function tlsComparison() {
  const workerEnv = () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '4', WORKER_STORAGE_GB: '20', WORKER_UPLOAD_CHUNK_BYTES: String(1024 * 1024) });
  const modes = [];
  try {
    for (const tls of [undefined, 'mtls']) {
      const cluster = await startCluster({ workers: 1, workerEnv, tls, env: APP_ENV });
      const certs = cluster.certs;
      const api = connect(TaskServiceDefinition, cluster.masterAddr, {
        defaultDeadlineMs: 600_000,
        bearer: () => cluster.userToken,
        tls: certs && { ca: certs.ca, ...certs.pem('cli') },
      });
      modes.push({ name: tls ?? 'plaintext', cluster, api, uploadMBps: [], taskId: undefined });
    }
    for (let round = 0; round < TLS_ROUNDS; round++) {
      for (const mode of modes) {
        const big = await upload(mode.api.client, mode.cluster.apps.get('worker-1'), BIG);
        mode.uploadMBps.push(big.bytes / 1e6 / big.seconds);
        mode.taskId = big.taskId;
        console.log(`TLS round ${round + 1}, ${mode.name}: 1 GiB upload ${fmt(mode.uploadMBps.at(-1))} MB/s`);
      }
    }
    for (const mode of modes) {
      mode.download = await download(mode.cluster.masterAddr, mode.taskId, mode.cluster.userToken, mode.cluster.cliTlsArgs);
      console.log(`TLS, ${mode.name}: download ${fmt(mode.download.MBps)} MB/s, CLI peak RSS ${fmt(mode.download.cliPeakRssMb)} MiB`);
    }
  } finally {
    for (const mode of modes) {
      mode.api.close();
      await mode.cluster.stop();
    }
  }
  const [plain, secure] = modes.map((m) => ({ ...m, bestUploadMBps: Math.max(...m.uploadMBps) }));
  return {
    plaintextUploadMBps: plain.uploadMBps,
    mtlsUploadMBps: secure.uploadMBps,
    uploadRatio: secure.bestUploadMBps / plain.bestUploadMBps,
    plaintextDownloadMBps: plain.download.MBps,
    mtlsDownloadMBps: secure.download.MBps,
    downloadRatio: secure.download.MBps / plain.download.MBps,
  };
}

const tls = TLS ? await tlsComparison() : undefined;

const b = best.row;
const bestSmall = Math.max(...rows.map((r) => r.smallVsRawSync));
const rested = rows.every((r) => r.disk.rested);
console.log(`best chunk size: ${b.chunkBytes / 1024} KiB; disk ${rested ? 'rested before every round' : 'NOT rested before every round'}`);
console.log(
  `  1 GiB file: ${fmt(b.bigMBps)} MB/s = ${fmt(b.bigVsCeiling * 100, 0)}% of the gRPC ceiling of ${fmt(b.ceiling.MBps)} MB/s ` +
    `(target ≥ 80%: ${verdict(b.bigVsCeiling >= 0.8)}), ${fmt(b.bigVsRawSync * 100, 0)}% of raw copy + sync at ${fmt(b.raw.bigSyncMBps)} MB/s ` +
    `(target ≥ 35%: ${verdict(b.bigVsRawSync >= 0.35)}); ${fmt(b.bigVsRaw * 100, 0)}% of a copy left in the page cache`,
);
console.log(`  small files: ${fmt(bestSmall * 100, 0)}% of raw copy + sync (target ≥ 50%: ${verdict(bestSmall >= 0.5)}); ${fmt(Math.max(...rows.map((r) => r.smallVsRaw)) * 100, 0)}% of a copy left in the page cache`);
const maxGrowth = Math.max(...rows.map((r) => Math.max(r.workerRssGrowthMb, r.storageRssGrowthMb)));
console.log(`  RSS growth ≤ 64 MiB: ${verdict(maxGrowth <= 64)} (max ${fmt(maxGrowth)} MiB)`);
const dl = rows.find((r) => r.download)?.download;
if (dl) console.log(`  download: ${fmt(dl.MBps)} MB/s; CLI peak RSS ${fmt(dl.cliPeakRssMb)} MiB (target ≤ 96 MiB: ${verdict(dl.cliPeakRssMb <= 96)})`);
if (tls) console.log(
  `  1 GiB upload over mTLS: ${fmt(tls.uploadRatio * 100, 0)}% of plaintext, best of ${TLS_ROUNDS} each ` +
    `(${tls.mtlsUploadMBps.map((v) => fmt(v)).join(', ')} vs ${tls.plaintextUploadMBps.map((v) => fmt(v)).join(', ')} MB/s; ` +
    `target ≥ 70%: ${verdict(tls.uploadRatio >= 0.7)}); download ${fmt(tls.downloadRatio * 100, 0)}% ` +
    `(${fmt(tls.mtlsDownloadMBps)} vs ${fmt(tls.plaintextDownloadMBps)} MB/s)`,
);
result('transfer', { rows, bestChunkBytes: b.chunkBytes, tls });
