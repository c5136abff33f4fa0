import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { LogStream, TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { removeContainersLabelled, requireDocker, startCluster, TEST_IMAGE, waitFor, type LocalCluster } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 13: a chatty task loses nothing. A 50 MiB burst on both streams at
// once, faster than the master stores it, through real processes; its
// stored log must be what Docker's own json-file log keeps of the same
// command, byte for byte, per stream.

const MiB = 1024 * 1024;
const OUT = 44 * MiB;
const ERR = 6 * MiB;
const SCRIPT =
  `(yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${OUT}) & ` +
  `(yes stderr-line-abcdefghijklmnopqrstuvwxyz | head -c ${ERR} >&2) & wait`;

let docker: Awaited<ReturnType<typeof requireDocker>>;
let cluster: LocalCluster;
let api: ReturnType<typeof connect<typeof TaskServiceDefinition>>;

beforeAll(async () => {
  docker = await requireDocker();
  cluster = await startCluster({
    workers: 1,
    // 4 MiB in memory: most of the burst waits in the worker's spool on disk.
    workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '2', WORKER_LOG_BUFFER_BYTES: String(4 * MiB) }),
  });
  api = connect(TaskServiceDefinition, cluster.masterAddr, { bearer: () => cluster.userToken, defaultDeadlineMs: 120_000 });
});

afterAll(async () => {
  api?.close();
  await cluster?.stop();
  if (docker && cluster) await removeContainersLabelled(docker, `cloudai.worker_id=${cluster.workerId(1)}`);
});

function digests() {
  const h = { stdout: createHash('sha256'), stderr: createHash('sha256') };
  const bytes = { stdout: 0, stderr: 0 };
  return {
    add(stream: 'stdout' | 'stderr', data: Uint8Array) {
      h[stream].update(data);
      bytes[stream] += data.byteLength;
    },
    result: () => ({ stdout: h.stdout.digest('hex'), stderr: h.stderr.digest('hex'), bytes }),
  };
}

describe('a 50 MiB log burst', () => {
  it('is stored byte-identical to docker logs of the same command, per stream, with nothing dropped', async () => {
    const { task } = await api.client.submitTask({
      spec: { image: TEST_IMAGE, command: ['sh', '-c', SCRIPT], resources: { cpu: 1, memoryGb: 1 } },
    });
    const done = await waitFor(
      async () => {
        const { task: t } = await api.client.getTask({ taskId: task!.taskId });
        return t!.status >= TaskStatus.TASK_STATUS_SUCCEEDED ? t : undefined;
      },
      { what: 'the burst to end', timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(TaskStatus[done!.status]).toBe('TASK_STATUS_SUCCEEDED');

    const stored = digests();
    let dropped = -1;
    let markers = 0;
    for await (const msg of api.client.streamLogs({ taskId: task!.taskId })) {
      if (msg.outcome) dropped = Number(msg.outcome.droppedBytes);
      if (!msg.entry?.chunk) continue;
      if (msg.entry.marker) markers++;
      else stored.add(msg.entry.chunk.stream === LogStream.LOG_STREAM_STDERR ? 'stderr' : 'stdout', msg.entry.chunk.data);
    }

    // The same command, raw, with Docker's json-file log.
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', SCRIPT],
      HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'json-file', Config: {} } },
    });
    const raw = digests();
    try {
      await c.start();
      await c.wait();
      const logs = (await c.logs({ stdout: true, stderr: true, follow: true })) as NodeJS.ReadableStream;
      const out = new PassThrough();
      const err = new PassThrough();
      out.on('data', (b: Buffer) => raw.add('stdout', b));
      err.on('data', (b: Buffer) => raw.add('stderr', b));
      docker.modem.demuxStream(logs, out, err);
      await new Promise((resolve, reject) => {
        logs.on('end', resolve);
        logs.on('error', reject);
      });
    } finally {
      await c.remove({ force: true });
    }

    const s = stored.result();
    const r = raw.result();
    expect(r.bytes).toEqual({ stdout: OUT, stderr: ERR });
    expect(dropped).toBe(0);
    expect(markers).toBe(0);
    expect(s.bytes).toEqual(r.bytes);
    expect(s.stdout).toBe(r.stdout);
    expect(s.stderr).toBe(r.stderr);
  });
});
