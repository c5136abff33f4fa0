import { describe, expect, it } from 'vitest';
import { startApp, stopApp, tempDir } from '@cloudai/testing';

// Every app starts alone from dist/main.js, configured only by env, and
// exits 0 on SIGTERM.
describe.each(['master', 'storage', 'scheduler', 'worker'] as const)('%s process', (app) => {
  it('starts from dist/main.js and shuts down cleanly on SIGTERM', async () => {
    const data = await tempDir();
    try {
      const proc = await startApp(app, app, {
        CLOUDAI_DATA_DIR: data.path,
        LISTEN_ADDR: '127.0.0.1:0',
        // No master is running for the scheduler and worker: they must keep
        // retrying rather than crash, and still stop cleanly.
        CLOUDAI_MASTER: '127.0.0.1:1',
        WORKER_ID: `lifecycle-${process.pid}-${Date.now()}`,
      }, () => true);
      await new Promise((r) => setTimeout(r, 500));
      expect(proc.child.exitCode).toBeNull();
      const code = await stopApp(proc);
      expect(code).toBe(0);
      expect(proc.logs.some((l) => typeof l.msg === 'string' && l.msg.endsWith('stopped'))).toBe(true);
    } finally {
      await data.remove();
    }
  });
});
