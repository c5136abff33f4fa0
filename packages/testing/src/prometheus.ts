import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { withoutTool } from './required-tool.js';
import { tempDir, waitFor } from './temp.js';

/** One series of an instant query's answer. */
export interface PromSeries {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  /** An instant query through /api/v1/query; throws on a query Prometheus refuses. */
  query(expr: string): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

const HOW_TO_PROVIDE =
  "install Debian's prometheus package (bash .ci/provision.sh does), or set PROMETHEUS_BIN to a prometheus binary";

/** PROMETHEUS_BIN when set (a wrong path is reported, not replaced), else `prometheus` on PATH. */
export function locatePrometheus(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  if (env.PROMETHEUS_BIN) {
    return executable(env.PROMETHEUS_BIN) ? { path: env.PROMETHEUS_BIN } : { missing: `PROMETHEUS_BIN=${env.PROMETHEUS_BIN} is not an executable` };
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'prometheus');
    if (dir && executable(path)) return { path };
  }
  return { missing: 'PROMETHEUS_BIN is unset and there is no prometheus on PATH' };
}

/**
 * The Prometheus binary for the test suite named `suite`. Without one it
 * throws under CI, and elsewhere warns loudly and returns undefined (the
 * suite skips).
 */
export function requirePrometheus(suite: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = locatePrometheus(env);
  if ('missing' in found) return withoutTool({ suite, what: 'Prometheus', why: found.missing, howTo: HOW_TO_PROVIDE, env });
  return found.path;
}

/**
 * A real Prometheus (`bin`) scraping as `config` (prometheus.yml text)
 * says, with its own empty storage, on a free loopback port; resolves once
 * it is ready.
 */
export async function startPrometheus(bin: string, config: string): Promise<RunningPrometheus> {
  const dir = await tempDir('cloudai-prometheus-');
  await mkdir(join(dir.path, 'data'));
  const configFile = join(dir.path, 'prometheus.yml');
  await writeFile(configFile, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir.path, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    await stopChild(child, exited);
    await dir.remove();
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
        const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
        return ready || undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'prometheus to be ready' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] | [number, string] };
      };
      if (body.status !== 'success' || !body.data) throw new Error(`prometheus refused ${JSON.stringify(expr)}: ${body.error}`);
      // A scalar answers as one series without labels.
      if (body.data.resultType === 'scalar') return [{ metric: {}, value: Number((body.data.result as [number, string])[1]) }];
      return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
        metric: r.metric,
        value: Number(r.value[1]),
      }));
    },
    stop,
  };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
