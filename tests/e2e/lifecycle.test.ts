import { describe, expect, it } from 'vitest';
import { connect } from '@cloudai/rpc';
import { scrapeMetrics, startApp, stopApp, tempDir, type AppName } from '@cloudai/testing';
import { HealthDefinition } from 'nice-grpc-server-health';

/** The line each app logs once its server is bound and its work started; `address` says where. */
const READY_LINE: Record<AppName, string> = {
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
