import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  REPO_ROOT,
  requireDocker,
  requirePrometheus,
  startCluster,
  startPrometheus,
  tempDir,
  TEST_IMAGE,
  type LocalCluster,
  type PromSeries,
  type RunningPrometheus,
  type TempDir,
} from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 11 as ops meet it: a real Prometheus, configured by the scrape
// configuration docker/ ships (only its addresses, mounted paths and
// intervals swapped for this machine's), scrapes a running cluster over
// HTTPS with the metrics token; PromQL through its HTTP API then tells what
// the cluster did.

const SHIPPED_CONFIG = join(REPO_ROOT, 'docker', 'prometheus', 'prometheus.yml');
const DASHBOARD = join(REPO_ROOT, 'docker', 'grafana', 'cloudai-dashboard.json');
const JOBS = ['master', 'storage', 'scheduler', 'worker'] as const;

// Under CI this throws, failing the file, when there is no Prometheus to run.
const prometheusBin = requirePrometheus('the Prometheus end-to-end test');

if (!prometheusBin) {
  describe.skip('Prometheus end-to-end test SKIPPED: no prometheus binary (see the warning)', () => {
    it('needs prometheus', () => {});
  });
} else {
  let dir: TempDir;
  let cluster: LocalCluster;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    await requireDocker();
    dir = await tempDir('cloudai-metrics-e2e-');
    const tokenFile = join(dir.path, 'metrics-token');
    await writeFile(tokenFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
    // TLS: every app serves its metrics over HTTPS with its certificate, as in compose.
    cluster = await startCluster({ workers: 1, tls: 'tls', env: { METRICS_TOKEN_FILE: tokenFile } });
    const config = scrapeConfig(await readFile(SHIPPED_CONFIG, 'utf8'), cluster, tokenFile);
    prometheus = await startPrometheus(prometheusBin, config);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await cluster?.stop();
    await dir?.remove();
  });

  /** The instant query's series, keyed by the values of `labels` joined with spaces ("" for none). */
  async function byLabels(expr: string, ...labels: string[]): Promise<Record<string, number>> {
    const series: PromSeries[] = await prometheus.query(expr);
    return Object.fromEntries(series.map((s) => [labels.map((l) => s.metric[l] ?? '').join(' '), s.value]));
  }

  /** Queries until the answer is `expected`: Prometheus scrapes every second. */
  function eventually(expr: string, labels: string[], expected: Record<string, number>) {
    return expect.poll(() => byLabels(expr, ...labels), { timeout: 30_000, interval: 500 }).toEqual(expected);
  }

  describe('a real Prometheus with the shipped scrape configuration', () => {
    it('scrapes every app over HTTPS with the bearer token, and is refused without it', async () => {
      await eventually('up', ['job'], { master: 1, storage: 1, scheduler: 1, worker: 1, 'master-without-token': 0 });
      const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
        data: { activeTargets: { labels: { job: string }; scrapeUrl: string; lastError: string }[] };
      };
      const byJob = new Map(targets.data.activeTargets.map((t) => [t.labels.job, t]));
      for (const job of JOBS) expect(byJob.get(job)?.scrapeUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(byJob.get('master-without-token')?.lastError).toContain('401');
    });

    it('after one task succeeds and one fails, PromQL returns the counters and the phase histograms', async () => {
      const ok = await run('sh', '-c', 'echo hello; echo 42 > /output/answer.txt');
      const failed = await run('sh', '-c', 'echo oops >&2; exit 3');
      expect(ok).toMatchObject({ status: 'SUCCEEDED' });
      expect(failed).toMatchObject({ status: 'FAILED', exitCode: 3 });

      await eventually('sum by (status, failure_class) (cloudai_tasks_finished_total) > 0', ['status', 'failure_class'], {
        'SUCCEEDED none': 1,
        'FAILED exit_code': 1,
      });
      await eventually('cloudai_tasks_submitted_total', [], { '': 2 });
      // Both went through every phase: the failed task's (empty) outputs are uploaded too.
      await eventually('sum by (phase) (cloudai_task_phase_seconds_count)', ['phase'], {
        queued: 2,
        starting: 2,
        running: 2,
        uploading: 2,
      });
      const median = await byLabels('histogram_quantile(0.5, sum by (le) (cloudai_task_phase_seconds_bucket{phase="running"}))');
      expect(median['']).toBeGreaterThan(0);
      expect(Number.isFinite(median[''])).toBe(true);

      await eventually('max by (status) (cloudai_tasks) > 0', ['status'], { SUCCEEDED: 1, FAILED: 1 });
      await eventually('cloudai_log_bytes_total', [], { '': 'hello\n'.length + 'oops\n'.length });
      await eventually('cloudai_output_files_total', [], { '': 1 });
      await eventually('cloudai_output_upload_seconds_count', [], { '': 2 });
      await eventually('cloudai_scheduler_placements_total{result="committed"}', [], { '': 2 });
      await eventually('sum by (job) (cloudai_grpc_server_handled_total{method="SubmitTask", code="OK"})', ['job'], { master: 2 });
      await eventually('cloudai_worker_containers_running', [], { '': 0 });
      expect((await byLabels('cloudai_worker_upload_bytes_total'))['']).toBeGreaterThan(0);
      expect((await byLabels('max(cloudai_worker_capacity{resource="cpu"})'))['']).toBeGreaterThan(0);
      await eventually('max by (state) (cloudai_workers)', ['state'], { ALIVE: 1, DRAINING: 0, LOST: 0 });
    });

    it("evaluates every query of the Grafana dashboard, and finds data for each panel's metrics", async () => {
      const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
        panels: { type: string; title: string; targets?: { expr: string }[] }[];
      };
      const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
      expect(queries.length).toBeGreaterThan(20);
      for (const { panel, expr } of queries) {
        // Grafana's rate window: a minute holds the 1 s scrapes made so far.
        const promql = expr.replaceAll('$__rate_interval', '1m');
        expect(promql, panel).not.toContain('$');
        await expect(prometheus.query(promql), `${panel}: ${promql}`).resolves.toBeInstanceOf(Array);
        // Every metric the query names exists: a renamed metric would leave the panel empty.
        for (const name of new Set(promql.match(/\b(cloudai_[a-z_]+|process_[a-z_]+)\b/g) ?? [])) {
          const series = await prometheus.query(`count(${name})`);
          expect({ panel, name, found: series.length > 0 }).toEqual({ panel, name, found: true });
        }
      }
    });
  });

  /** Runs a task through the CLI as user e2e and waits for it to end; its status as `status --json` gives it. */
  async function run(...command: string[]): Promise<Record<string, unknown>> {
    const submitted = await cluster.cli(['task', TEST_IMAGE, '--json', '--', ...command]);
    expect(submitted.stderr).toBe('');
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    await cluster.cli(['wait', taskId]);
    return JSON.parse((await cluster.cli(['status', taskId, '--json'])).stdout) as Record<string, unknown>;
  }
}

/**
 * docker/prometheus/prometheus.yml with this machine's places: the cluster's
 * metrics addresses for the compose names, the test CA and token for the
 * paths compose mounts, and 1 s intervals. Every swap must apply, so a
 * change to the shipped file fails here rather than leaving it untested.
 * One job more scrapes the master without the token.
 */
function scrapeConfig(shipped: string, cluster: LocalCluster, tokenFile: string): string {
  const metricsOf = (app: string) => {
    const address = cluster.apps.get(app)?.metricsAddr;
    if (!address) throw new Error(`${app} serves no metrics`);
    return address;
  };
  const swaps: [string, string][] = [
    ['scrape_interval: 15s', 'scrape_interval: 1s'],
    ['scrape_timeout: 10s', 'scrape_timeout: 1s'],
    ['evaluation_interval: 15s', 'evaluation_interval: 1s'],
    ['/etc/prometheus/certs/ca.crt', cluster.certs!.caFile],
    ['/etc/prometheus/secrets/metrics-token', tokenFile],
    ["'master:9451'", `'${metricsOf('master')}'`],
    ["'storage:9452'", `'${metricsOf('storage')}'`],
    ["'scheduler:9453'", `'${metricsOf('scheduler')}'`],
    ["'worker:9454'", `'${metricsOf('worker-1')}'`],
  ];
  let config = shipped;
  for (const [from, to] of swaps) {
    expect(config, `the shipped scrape configuration has ${from}`).toContain(from);
    config = config.replaceAll(from, to);
  }
  return `${config}
  - job_name: master-without-token
    scheme: https
    tls_config:
      ca_file: ${cluster.certs!.caFile}
    static_configs:
      - targets: ['${metricsOf('master')}']
`;
}
