#!/usr/bin/env node
// transfer-s3: the transfer benchmark's s3 mode. Task outputs stored by the
// storage service on an S3-compatible server (VersityGW on 127.0.0.1, the
// tests' server) with STORAGE_BACKEND=s3, against raw clients of the same
// server in the same run:
//   - one task writing a single 1 GiB file, container exit → storage's
//     acknowledgement, against a raw @aws-sdk/lib-storage `Upload` of the
//     same bytes to the same server (target ≥ 80% of its rate);
//   - peak RSS growth of worker and storage during that upload (≤ 64 MiB each);
//   - 10,000 × 4 KiB files, files/s, against raw PutObject calls of the same
//     files (16 in flight) on the same server;
//   - `cloudai download` of the 1 GiB file: MB/s and the CLI's peak RSS,
//     whole, and interrupted halfway then continued with --resume.
// BENCH_BIG_MIB and BENCH_SMALL_FILES size it; BENCH_APP_NODE_OPTIONS is
// passed to every app as NODE_OPTIONS.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { appMain, requireDocker, requireS3Server, startCluster, startS3Server, tempDir, TEST_IMAGE } from '@cloudai/testing';
import { fmt, pollUntil, result, verdict } from './lib.mjs';

const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 10_000);
const APP_ENV = process.env.BENCH_APP_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS } : {};
const TARGET = { bigVsRaw: 0.8, rssGrowthMib: 64 };
const BUCKET = 'cloudai-bench';
const BIG_BYTES = BIG_MIB * 1024 * 1024;

const BIG = `head -c ${BIG_BYTES} /dev/zero | tr '\\0' x > /output/big.bin; sync`;
const SMALL =
  `mkdir -p /output/small; i=0; while [ $i -lt ${SMALL_FILES} ]; do ` +
  `head -c 4096 /dev/zero > /output/small/f$i; i=$((i+1)); done; sync`;

async function peakRssMb(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Runs one task; returns its bytes, files and the seconds from the container's exit to storage's acknowledgement. */
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

/** The raw baselines on the same server: one lib-storage Upload of the big file, and the small files as PutObject calls. */
async function rawBaselines(s3, dir) {
  const big = join(dir, 'big.bin');
  await writeFile(big, Buffer.alloc(0));
  await new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `head -c ${BIG_BYTES} /dev/zero | tr '\\0' x > ${big}`], { stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`making the file exited ${code}`))));
  });
  let t = performance.now();
  await new Upload({ client: s3, params: { Bucket: BUCKET, Key: 'raw/big.bin', Body: createReadStream(big) } }).done();
  const bigSeconds = (performance.now() - t) / 1000;

  const block = Buffer.alloc(4096);
  let next = 0;
  t = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < SMALL_FILES) {
        const i = next++;
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `raw/small/f${i}`, Body: block }));
      }
    }),
  );
  const smallSeconds = (performance.now() - t) / 1000;
  return { bigMBps: BIG_BYTES / 1e6 / bigSeconds, smallFilesPerSec: SMALL_FILES / smallSeconds };
}

/**
 * `cloudai download --file big.bin` into `out`; with `stopAt`, interrupted
 * (SIGINT) once its partial file holds that many bytes. Returns the seconds,
 * the bytes this run received, and the CLI's peak RSS.
 */
async function download(masterAddr, taskId, token, out, { resume = false, stopAt } = {}) {
  const args = ['--master', masterAddr, 'download', taskId, '--out', out, '--file', 'big.bin', ...(resume ? ['--resume'] : [])];
  const before = await partialBytes(out);
  const t = performance.now();
  const child = spawn(process.execPath, [appMain('cli'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CLOUDAI_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  let peak = 0;
  let stopping = false;
  const sampler = setInterval(() => {
    peakRssMb(child.pid).then((v) => (peak = Number.isNaN(v) ? peak : Math.max(peak, v)), () => {});
    if (stopAt !== undefined && !stopping) {
      partialBytes(out).then((n) => {
        if (n >= stopAt && !stopping) {
          stopping = true;
          child.kill('SIGINT');
        }
      });
    }
  }, 20);
  const code = await new Promise((r) => child.on('exit', r));
  clearInterval(sampler);
  const seconds = (performance.now() - t) / 1000;
  if (stopAt !== undefined ? code !== 130 : code !== 0) throw new Error(`cloudai download exited ${code}: ${stderr}`);
  const received = stopAt !== undefined ? await partialBytes(out) : BIG_BYTES - before;
  return { seconds, received, MBps: received / 1e6 / seconds, cliPeakRssMb: peak };
}

/** The bytes of big.bin's partial file in `dir` (0 when there is none). */
async function partialBytes(dir) {
  const names = await readdir(dir).catch(() => []);
  const partial = names.find((n) => n.startsWith('big.bin.') && n.endsWith('.partial'));
  return partial ? (await stat(join(dir, partial))).size : 0;
}

async function sha256Of(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

await requireDocker();
const bin = requireS3Server('bench transfer-s3');
if (!bin) throw new Error('bench transfer-s3 needs VersityGW (bash .ci/provision.sh builds it)');
const server = await startS3Server(bin);
const s3 = new S3Client({
  endpoint: server.endpoint,
  region: server.region,
  forcePathStyle: true,
  credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
});
const out = {};
try {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const scratch = await tempDir('cloudai-bench-s3raw-');
  const raw = await rawBaselines(s3, scratch.path);
  await scratch.remove();
  console.log(`raw: lib-storage Upload of ${BIG_MIB} MiB ${fmt(raw.bigMBps)} MB/s; ${SMALL_FILES} × 4 KiB PutObject (16 in flight) ${fmt(raw.smallFilesPerSec, 0)} files/s`);
  out.raw = raw;

  const cluster = await startCluster({
    workers: 1,
    env: {
      ...APP_ENV,
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: server.endpoint,
      S3_BUCKET: BUCKET,
      S3_PREFIX: 'outputs/',
      S3_REGION: server.region,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    },
    workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '4', WORKER_STORAGE_GB: '20' }),
  });
  const api = connect(TaskServiceDefinition, cluster.masterAddr, { defaultDeadlineMs: 600_000, bearer: () => cluster.userToken });
  try {
    const worker = cluster.apps.get('worker-1');
    const pids = { worker: worker.child.pid, storage: cluster.apps.get('storage').child.pid };
    await upload(api.client, worker, 'echo warm > /output/warm.txt');
    const before = { worker: await peakRssMb(pids.worker), storage: await peakRssMb(pids.storage) };
    const big = await upload(api.client, worker, BIG);
    const after = { worker: await peakRssMb(pids.worker), storage: await peakRssMb(pids.storage) };
    // Measuring the disk backend by mistake would look like success.
    const stored = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'outputs/' }));
    if (!stored.Contents?.some((o) => o.Key.endsWith('/big.bin') && o.Size === BIG_BYTES)) {
      throw new Error('no big.bin object under outputs/: storage did not store on S3 (is STORAGE_BACKEND=s3 in effect?)');
    }
    const small = await upload(api.client, worker, SMALL);
    out.bigMBps = big.bytes / 1e6 / big.seconds;
    out.bigVsRaw = out.bigMBps / raw.bigMBps;
    out.rssGrowthMib = { worker: after.worker - before.worker, storage: after.storage - before.storage };
    out.smallFilesPerSec = small.files / small.seconds;
    out.smallVsRaw = out.smallFilesPerSec / raw.smallFilesPerSec;
    console.log(
      `${BIG_MIB} MiB output: ${fmt(out.bigMBps)} MB/s, ${fmt(out.bigVsRaw * 100, 0)}% of the raw Upload — target ≥ ${TARGET.bigVsRaw * 100}%: ${verdict(out.bigVsRaw >= TARGET.bigVsRaw)}`,
    );
    console.log(
      `RSS growth during it: worker ${fmt(out.rssGrowthMib.worker)} MiB, storage ${fmt(out.rssGrowthMib.storage)} MiB — target ≤ ${TARGET.rssGrowthMib} MiB: ` +
        verdict(out.rssGrowthMib.worker <= TARGET.rssGrowthMib && out.rssGrowthMib.storage <= TARGET.rssGrowthMib),
    );
    console.log(`${SMALL_FILES} × 4 KiB: ${fmt(out.smallFilesPerSec, 0)} files/s, ${fmt(out.smallVsRaw * 100, 0)}% of raw PutObject calls`);

    const whole = await tempDir('cloudai-bench-s3dl-');
    out.download = await download(cluster.masterAddr, big.taskId, cluster.userToken, whole.path);
    const expected = await sha256Of(join(whole.path, 'big.bin'));
    await whole.remove();
    const cut = await tempDir('cloudai-bench-s3dl-');
    const first = await download(cluster.masterAddr, big.taskId, cluster.userToken, cut.path, { stopAt: BIG_BYTES / 2 });
    const rest = await download(cluster.masterAddr, big.taskId, cluster.userToken, cut.path, { resume: true });
    if ((await sha256Of(join(cut.path, 'big.bin'))) !== expected) throw new Error('the resumed download differs from the whole one');
    await cut.remove();
    out.resumed = { first, rest, cliPeakRssMb: Math.max(first.cliPeakRssMb, rest.cliPeakRssMb) };
    console.log(
      `download: ${fmt(out.download.MBps)} MB/s, CLI peak RSS ${fmt(out.download.cliPeakRssMb)} MiB; interrupted after ${fmt(first.received / 1048576, 0)} MiB ` +
        `and resumed: the rest (${fmt(rest.received / 1048576, 0)} MiB) at ${fmt(rest.MBps)} MB/s, CLI peak RSS ${fmt(out.resumed.cliPeakRssMb)} MiB, the same sha256`,
    );
  } finally {
    api.close();
    await cluster.stop();
  }
} finally {
  s3.destroy();
  await server.stop();
}
result('transfer-s3', out);
