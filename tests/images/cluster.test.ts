import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { tempDir, TEST_IMAGE, waitFor, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCKER, runOk } from './commands.js';
import { APPS, buildImages, imageOf, SERVICES, startImageCluster, type ImageCluster } from './image-cluster.js';

// The images as ops deploy them: every app's image built from docker/ (once
// per run; BuildKit's cache makes an unchanged rebuild quick), the cluster
// started from them with compose and FerretDB as MongoDB, and the seed's
// training example run through the CLI image. Never skipped: an engine that
// cannot build or run them fails this file.

let logs: TempDir;
let cluster: ImageCluster | undefined;
/** the seed's training task, once the CLI image has run it */
let trainingTask: { taskId: string; taskName: string } | undefined;

beforeAll(async () => {
  logs = await tempDir('cloudai-images-log-');
  const built = await buildImages(join(logs.path, 'build.log'));
  const started = Date.now();
  cluster = await startImageCluster();
  console.log(`[images] built in ${built.toFixed(0)} s; the cluster was up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}, 30 * 60_000);

afterAll(async () => {
  await cluster?.down();
  await logs?.remove();
}, 120_000);

/** GET over HTTPS, trusting only `ca`, with the bearer token when given. */
function httpsGet(url: string, ca: string, token?: string): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function the(c: ImageCluster | undefined): ImageCluster {
  if (!c) throw new Error('the cluster did not start');
  return c;
}

describe('the images', () => {
  it('run as the node user, carry no dev dependencies and declare their health check', async () => {
    const c = the(cluster);
    const sizes: string[] = [];
    for (const app of APPS) {
      const [user, healthcheck, size] = (
        await runOk(DOCKER, ['image', 'inspect', '--format', '{{.Config.User}}|{{json .Config.Healthcheck}}|{{.Size}}', imageOf(app)])
      )
        .trim()
        .split('|');
      sizes.push(`${imageOf(app)} ${Math.round(Number(size) / 1e6)} MB`);
      expect(user, app).toBe('node');
      // The services' gRPC health check; the web console's own, over HTTP (it serves no gRPC).
      if (app === 'web') expect(healthcheck, app).toContain('/app/apps/web/dist/health-check-main.js');
      else if (app !== 'cli') expect(healthcheck, app).toContain('/app/packages/rpc/dist/health-check-main.js');
      // Every package installed anywhere under /app, by its folder in pnpm's virtual store.
      const packages = await runOk(DOCKER, [
        'exec', await c.containerOf(app), 'sh', '-c', 'ls /app/node_modules/.pnpm /app/*/*/node_modules/.pnpm 2>/dev/null || true',
      ]);
      // The CLI is one bundle (apps/cli/bundle.mjs): every dependency of it is a build-time one.
      if (app === 'cli') expect(packages, app).toBe('');
      else expect(packages, app).toMatch(/^zod@/m);
      // The console's build tools and bundled libraries included: its dist/ is all the web image needs of it.
      expect(packages, app).not.toMatch(
        /^(typescript|vitest|turbo|eslint|ts-proto|esbuild|@bufbuild\+buf|vite|rollup|react|react-dom|@vitejs\+plugin-react|@tanstack\+react-virtual|playwright-core)@/m,
      );
    }
    console.log(`[images] sizes:\n${sizes.join('\n')}`);
  });
});

describe('the cluster from the images', () => {
  it('turns every service healthy, each serving as uid 1000', async () => {
    const c = the(cluster);
    for (const service of SERVICES) {
      await waitFor(async () => ((await c.health(service)) === 'healthy' ? true : undefined), {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        what: `${service} to turn healthy`,
      });
      if (service === 'mongo') continue;
      const uid = await runOk(DOCKER, ['exec', await c.containerOf(service), 'node', '-p', 'process.getuid()']);
      expect(uid.trim(), service).toBe('1000');
    }
  });

  it('serve each service\'s metrics over HTTPS with its certificate, to scrapers with the token only', async () => {
    const c = the(cluster);
    for (const [service, addr] of Object.entries(c.metricsAddr)) {
      const scrape = await httpsGet(`https://${addr}/metrics`, c.ca, c.metricsToken);
      expect(scrape.status, service).toBe(200);
      expect(scrape.body, service).toMatch(/^process_resident_memory_bytes /m);
      expect((await httpsGet(`https://${addr}/metrics`, c.ca)).status, service).toBe(401);
    }
    // The master's own gauges, from the store: the worker that joined it.
    const aliveWorker = /^cloudai_workers\{state="ALIVE"\} 1$/m;
    await waitFor(
      async () => (aliveWorker.test((await httpsGet(`https://${c.metricsAddr.master}/metrics`, c.ca, c.metricsToken)).body) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 1_000, what: 'the master to count one alive worker' },
    );
  });

  it("runs the seed's training example through the CLI image: task, logs, outputs, download", async () => {
    const c = the(cluster);
    const added = await c.cliRun(['users', 'add', 'trainer', '--json'], c.adminToken);
    expect(added.stderr).toBe('');
    const { token } = JSON.parse(added.stdout) as { token: string };

    // The seed's example (python train.py --output-dir /output/models between
    // two status files), in sh: the test image has no Python.
    const training = [
      'echo "Processing data..." > /output/status.txt',
      'mkdir -p /output/models',
      'for epoch in 1 2 3; do echo "epoch $epoch/3 loss=0.$((9 - epoch * 2))"; done',
      'head -c 1000000 /dev/urandom > /output/models/model.pkl',
      'echo "Training complete!" > /output/result.txt',
    ].join('; ');
    const submitted = await c.cli(
      ['task', TEST_IMAGE, '--name', 'experiment-001', '--cpu', '1', '--mem', '0.5', '--json', '--', 'sh', '-c', training],
      token,
    );
    expect(submitted.stderr).toBe('');
    const { taskId, taskName } = JSON.parse(submitted.stdout) as { taskId: string; taskName: string };
    expect(taskName).toBe('experiment-001');
    trainingTask = { taskId, taskName };

    // Bounded, so that a cluster that never runs it fails here rather than at the test's timeout.
    expect((await c.cli(['wait', taskId, '--timeout', '180'], token)).code).toBe(0);
    const status = JSON.parse((await c.cli(['status', taskId, '--json'], token)).stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, workerId: c.workerId, outputBytes: 1_000_000 + 19 + 19 });

    const log = await c.cli(['logs', taskId], token);
    expect(log.code).toBe(0);
    expect(log.stdout).toContain('epoch 1/3 loss=0.7\nepoch 2/3 loss=0.5\nepoch 3/3 loss=0.3\n');

    const listed = await c.cli(['files', taskId, '--json'], token);
    expect(listed.code).toBe(0);
    const files = JSON.parse(listed.stdout) as { path: string; size: number; sha256: string }[];
    expect(files.map((f) => [f.path, f.size])).toEqual([
      ['models/model.pkl', 1_000_000],
      ['result.txt', 19],
      ['status.txt', 19],
    ]);

    const downloaded = await c.cli(['download', taskId, '--out', '/work/experiment-001'], token);
    expect(downloaded.code).toBe(0);
    const dir = join(c.outDir, 'experiment-001');
    for (const f of files) {
      const bytes = await readFile(join(dir, f.path));
      expect(createHash('sha256').update(bytes).digest('hex'), f.path).toBe(f.sha256);
    }
    expect(await readFile(join(dir, 'status.txt'), 'utf8')).toBe('Processing data...\n');
    expect(await readFile(join(dir, 'result.txt'), 'utf8')).toBe('Training complete!\n');
  });

  it('serves the HTTP API and the console through the web image, over HTTPS with its certificate', async () => {
    const c = the(cluster);
    if (!trainingTask) throw new Error('the training task did not run');
    const listed = await httpsGet(`${c.webUrl}/api/v1/tasks?all_users=true`, c.ca, c.adminToken);
    expect(listed.status, listed.body).toBe(200);
    const { tasks } = JSON.parse(listed.body) as { tasks: { taskId: string; taskName: string; status: string }[] };
    expect(tasks.find((t) => t.taskId === trainingTask!.taskId)).toMatchObject({ taskName: 'experiment-001', status: 'SUCCEEDED' });
    expect((await httpsGet(`${c.webUrl}/api/v1/tasks`, c.ca)).status).toBe(401);

    // Any console route is the single-page app's index.html, under the console's CSP.
    for (const path of ['/', `/tasks/${trainingTask.taskId}`]) {
      const page = await httpsGet(`${c.webUrl}${path}`, c.ca);
      expect(page.status, path).toBe(200);
      expect(page.headers['content-type'], path).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy'], path).toMatch(/^default-src 'self'; script-src 'self';/);
      expect(page.body, path).toMatch(/<script type="module" crossorigin src="\/assets\/[^"]+\.js"><\/script>/);
    }
  });
});
