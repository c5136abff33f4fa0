import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '@cloudai/rpc';
import { appMain, scrapeMetrics, startApp, stopApp, tempDir, type AppName } from '@cloudai/testing';
import { HealthDefinition } from 'nice-grpc-server-health';

/** The apps that serve gRPC (and its health); the web app serves HTTP and is tested in apps/web. */
type GrpcAppName = Exclude<AppName, 'web'>;

/** The line each app logs once its server is bound and its work started; `address` says where. */
const READY_LINE: Record<GrpcAppName, string> = {
  master: 'master listening',
  storage: 'storage listening',
  scheduler: 'scheduler listening',
  worker: 'worker started',
};

/** grpc.health.v1 HealthCheckResponse.ServingStatus.SERVING */
const SERVING = 1;

// Every app starts alone from dist/main.js, configured only by env, and
// exits 0 on SIGTERM.
describe.each(['master', 'storage', 'scheduler', 'worker'] as const)('%s process', (app) => {
  it('starts from dist/main.js, serves health, and shuts down cleanly on SIGTERM', async () => {
    const data = await tempDir();
    try {
      const proc = await startApp(app, app, {
        CLOUDAI_DATA_DIR: data.path,
        LISTEN_ADDR: '127.0.0.1:0',
        // No master is running for the scheduler and worker: they must keep
        // retrying rather than crash, and still stop cleanly.
        CLOUDAI_MASTER: '127.0.0.1:1',
        WORKER_ID: `lifecycle-${process.pid}-${Date.now()}`,
        // Workers and schedulers join with the cluster's secret (any well-formed one here).
        CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
      }, (l) => l.msg === READY_LINE[app]);
      try {
        const health = connect(HealthDefinition, String(proc.readyLine.address));
        try {
          expect(await health.client.check({ service: '' })).toEqual({ status: SERVING });
        } finally {
          health.close();
        }
        // Its metrics, on the free port startApp asks for: the process's own and the health call just made.
        expect(proc.metricsAddr).toBe(proc.readyLine.metrics);
        const metrics = await scrapeMetrics(proc.metricsAddr!);
        expect(metrics.value('process_cpu_seconds_total')).toBeGreaterThan(0);
        expect(metrics.value('cloudai_grpc_server_handled_total', { method: 'Check', code: 'OK' })).toBe(1);
        await new Promise((r) => setTimeout(r, 500));
        expect(proc.child.exitCode).toBeNull();
        const code = await stopApp(proc);
        expect(code).toBe(0);
        expect(proc.logs.some((l) => typeof l.msg === 'string' && l.msg.endsWith('stopped'))).toBe(true);
      } finally {
        // A no-op after the clean stop; after a failed assertion the app must not outlive the test.
        await stopApp(proc);
      }
    } finally {
      await data.remove();
    }
  });
});

/**
 * A peer that is gone without closing anything: it accepts connections and
 * never answers, so whatever calls it waits until its own deadline (a
 * refused connection, by contrast, fails at once).
 */
interface BlackHole {
  address: string;
  /** resolves once something has connected */
  connected(): Promise<void>;
  close(): Promise<void>;
}

async function blackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let onConnection: () => void = () => {};
  const firstConnection = new Promise<void>((res) => (onConnection = res));
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    connected: () => firstConnection,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((res) => server.close(res));
    },
  };
}

/**
 * How long each app's own shutdown may take with the graces set below: its
 * drain, plus the 5 s every app gets for closing and flushing
 * (STOP_OVERHEAD_MS). Past it, runService exits 1 by itself.
 */
const SHUTDOWN_DEADLINE_MS: Record<GrpcAppName, number> = {
  master: 2_000 + 5_000,
  storage: 2_000 + 5_000,
  // its health server's drain
  scheduler: 5_000 + 5_000,
  // tasks' grace, their reports (the container stop grace + 5 s), in-flight calls
  worker: 1_000 + (1_000 + 5_000) + 5_000 + 5_000,
};

// The orphans: apps whose supervisor died, taking with it the read
// end of their stdout, and whose peers are gone. SIGTERM must still stop
// each one within its deadline, with exit code 0.
describe.each([
  ['NDJSON', 'false'],
  ['pretty', 'true'],
])('every app with its stdout closed (%s logs) and its peers hanging', (_, pretty) => {
  it.each(['master', 'storage', 'scheduler', 'worker'] as const)('%s exits 0 on SIGTERM within its deadline', async (app) => {
    const hole = await blackHole();
    const data = await tempDir();
    try {
      const proc = await startApp(
        app,
        app,
        {
          CLOUDAI_DATA_DIR: data.path,
          LISTEN_ADDR: '127.0.0.1:0',
          LOG_PRETTY: pretty,
          CLOUDAI_MASTER: hole.address,
          CLOUDAI_STORAGE: hole.address,
          WORKER_ID: `orphan-${process.pid}-${Date.now()}`,
          CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
          SHUTDOWN_GRACE_MS: '2000',
          WORKER_SHUTDOWN_GRACE_MS: '1000',
          WORKER_STOP_GRACE_SECONDS: '1',
        },
        // Pretty lines are not JSON: startApp keeps them whole as msg.
        (l) => typeof l.msg === 'string' && l.msg.includes(READY_LINE[app]),
      );
      try {
        if (app === 'scheduler' || app === 'worker') await hole.connected(); // a call to the master is in flight
        proc.child.stdout?.destroy();
        const signalled = Date.now();
        proc.child.kill('SIGTERM');
        const code = await proc.exited;
        const tookMs = Date.now() - signalled;
        expect(code).toBe(0);
        expect(tookMs).toBeLessThan(SHUTDOWN_DEADLINE_MS[app]);
      } finally {
        await stopApp(proc);
      }
    } finally {
      await hole.close();
      await data.remove();
    }
  });
});

/** How long the worker's start waits for the Docker engine's ping (apps/worker/src/worker.ts). */
const PING_TIMEOUT_MS = 10_000;

describe('a worker whose Docker engine never answers', () => {
  it('exits 0 on SIGTERM while it is still starting, without waiting for the engine', async () => {
    const engine = await blackHole();
    const data = await tempDir();
    const worker = spawn(process.execPath, [appMain('worker')], {
      env: {
        PATH: process.env.PATH ?? '',
        CLOUDAI_DATA_DIR: data.path,
        DOCKER_HOST: `tcp://${engine.address}`,
        CLOUDAI_MASTER: '127.0.0.1:1',
        CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
        WORKER_ID: `slow-docker-${process.pid}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    worker.stdout.on('data', (b: Buffer) => (out += b.toString()));
    worker.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((res) => worker.once('exit', (code) => res(code)));
    try {
      // Its first call to the engine (the ping, which may wait 10 s) is in flight.
      await engine.connected();
      worker.kill('SIGTERM');
      expect(await exited, out).toBe(0);
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; time: number });
      expect(lines.map((l) => l.msg)).toEqual(['shutting down', 'start abandoned for the shutdown', 'shutting down', 'worker stopped', 'stopped']);
      // Cut short by the shutdown, well before the ping's own 10 s timeout would have ended it.
      const [signalled, abandoned] = lines;
      expect(abandoned!.time - signalled!.time).toBeLessThan(PING_TIMEOUT_MS / 2);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await engine.close();
      await data.remove();
    }
  });
});
