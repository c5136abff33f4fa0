import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { APP_NODE_FLAGS, appMallocEnv } from './app-runtime.js';
import { REPO_ROOT } from './repo-root.js';
import { tempDir, type TempDir } from './temp.js';
import { devCertificates, type CertificateOwner, type DevCertificates } from './tls.js';

export type AppName = 'master' | 'scheduler' | 'storage' | 'worker' | 'web';

export interface AppProcess {
  name: string;
  child: ChildProcess;
  /** NDJSON log lines seen so far, parsed */
  logs: Record<string, unknown>[];
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  /** where the app serves GET /metrics, from its log (by the time it was ready); undefined when off */
  metricsAddr: string | undefined;
}

export function appMain(app: AppName | 'cli'): string {
  const main = join(REPO_ROOT, 'apps', app, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`pnpm build\` first`);
  return main;
}

/** How long an app may take to log its ready line before it counts as failed to start. */
const READY_TIMEOUT_MS = 60_000;

/**
 * Starts one app from its built dist/main.js, configured only by env, as
 * ops would. Resolves once a log line matches `ready` (default: any line
 * whose msg ends in "listening"); an app that exits first, or is not ready
 * within a minute, is killed and fails the start. Metrics are served on a
 * free port unless `env` says otherwise: apps side by side would all want
 * their default one.
 */
export async function startApp(
  name: string,
  app: AppName,
  env: Record<string, string>,
  ready: (line: Record<string, unknown>) => boolean = (l) => typeof l.msg === 'string' && l.msg.endsWith('listening'),
): Promise<AppProcess & { readyLine: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...APP_NODE_FLAGS, appMain(app)], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'info',
      METRICS_ADDR: '127.0.0.1:0',
      ...appMallocEnv(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-8000);
  });
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? -1)));
  let timedOut = false;
  // Killed rather than left running: the test that waited for it fails anyway.
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, READY_TIMEOUT_MS);
  const readyLine = await new Promise<Record<string, unknown>>((res, rej) => {
    const lines = createInterface({ input: child.stdout! });
    let done = false;
    lines.on('line', (text) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { msg: text };
      }
      logs.push(parsed);
      if (!done && ready(parsed)) {
        done = true;
        res(parsed);
      }
    });
    void exited.then((code) => {
      if (done) return;
      const why = timedOut ? `was not ready within ${READY_TIMEOUT_MS} ms` : `exited (${code}) before it was ready`;
      rej(new Error(`${name} ${why}: ${stderr || JSON.stringify(logs.slice(-5))}`));
    });
  }).finally(() => clearTimeout(timer));
  const metricsAddr = logs.map((l) => l.metrics).find((m): m is string => typeof m === 'string');
  return { name, child, logs, exited, readyLine, metricsAddr };
}

export interface ClusterOptions {
  workers?: number;
  /** env for every app, under each app's own (masterEnv, workerEnv, …) */
  env?: Record<string, string>;
  /** env for worker i (1-based), merged over the defaults */
  workerEnv?: (i: number) => Record<string, string>;
  masterEnv?: Record<string, string>;
  schedulerEnv?: Record<string, string>;
  storageEnv?: Record<string, string>;
  /**
   * How many storage processes to start (default 1): apps `storage`,
   * `storage-2`, …, each with its own STORAGE_ROOT; the master and workers
   * get all their addresses in CLOUDAI_STORAGE. Replicas serve the same
   * outputs only on a shared backend (STORAGE_BACKEND=s3 and MONGODB_URI in
   * `storageEnv`).
   */
  storageReplicas?: number;
  /** start the scheduler (default true) */
  scheduler?: boolean;
  /**
   * Transport security, with certificates from scripts/dev-certs.sh: `tls`
   * gives every server its certificate and every client the CA; `mtls` also
   * makes every server require client certificates. Default: plaintext.
   */
  tls?: 'tls' | 'mtls';
  /** Runs on the fresh data dir before any app starts: to seed the master's store (`<dir>/master/cloudai.db`), say. */
  beforeStart?: (dataDir: string) => Promise<void>;
}

export interface LocalCluster {
  masterAddr: string;
  /** the bootstrapped admin's API token (the master's `bootstrap-token` file) */
  adminToken: string;
  /** the token of user `e2e`, a plain user the admin created through the CLI */
  userToken: string;
  /**
   * Runs the built `cloudai` against this cluster as user `e2e` (master
   * address, TLS arguments and token filled in); `env` may override the token.
   */
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** the cluster's join secret file, which workers and the scheduler are started with */
  joinTokenFile: string;
  /**
   * Worker i's WORKER_ID: unique per cluster, because a worker removes the
   * containers labelled with its id when it starts, and test files run
   * clusters side by side on one Docker engine.
   */
  workerId(i: number): string;
  /** CLOUDAI_STORAGE's value: the storage address, or every replica's, comma-separated */
  storageAddr: string;
  /** every storage replica's address, `storage` first */
  storageAddrs: string[];
  dataDir: TempDir;
  /** the certificates the cluster runs with (under `tls`) */
  certs?: DevCertificates;
  /** --tls-ca, --tls-cert and --tls-key for `cloudai` against this cluster (none in plaintext) */
  cliTlsArgs: string[];
  apps: Map<string, AppProcess>;
  startWorker(i: number, env?: Record<string, string>): Promise<AppProcess>;
  /** stops every process (SIGTERM, then SIGKILL after 15 s) and removes the data dir */
  stop(): Promise<void>;
}

async function stopApp(app: AppProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return app.exited;
  app.child.kill(signal);
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 15_000);
  try {
    return await app.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A cluster of real processes on 127.0.0.1 with a fresh data dir. */
export async function startCluster(options: ClusterOptions = {}): Promise<LocalCluster> {
  const dataDir = await tempDir('cloudai-cluster-');
  try {
    await options.beforeStart?.(dataDir.path);
  } catch (err) {
    await dataDir.remove();
    throw err;
  }
  const apps = new Map<string, AppProcess>();
  const base = { CLOUDAI_DATA_DIR: dataDir.path, ...options.env };
  const certs = options.tls ? await devCertificates(join(dataDir.path, 'certs')) : undefined;
  /** One certificate per process, for its server and as its client certificate. */
  const tlsEnv = (owner: CertificateOwner): Record<string, string> => {
    if (!certs) return {};
    const { certFile, keyFile } = certs.files(owner);
    const env: Record<string, string> = { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CA_FILE: certs.caFile };
    if (options.tls === 'mtls') env.TLS_CLIENT_CA_FILE = certs.caFile;
    return env;
  };
  const storageAddrs: string[] = [];
  for (let i = 1; i <= (options.storageReplicas ?? 1); i++) {
    const name = i === 1 ? 'storage' : `storage-${i}`;
    const own: Record<string, string> = i === 1 ? {} : { STORAGE_ROOT: join(dataDir.path, name, 'files') };
    const storage = await startApp(name, 'storage', { ...base, ...tlsEnv('storage'), LISTEN_ADDR: '127.0.0.1:0', ...own, ...options.storageEnv });
    apps.set(name, storage);
    storageAddrs.push(String(storage.readyLine.address));
  }
  const storageAddr = storageAddrs.join(',');
  const master = await startApp('master', 'master', {
    ...base,
    ...tlsEnv('master'),
    LISTEN_ADDR: '127.0.0.1:0',
    CLOUDAI_STORAGE: storageAddr,
    WORKER_HEARTBEAT_MS: '500',
    ...options.masterEnv,
  });
  apps.set('master', master);
  const masterAddr = String(master.readyLine.address);
  const secrets = join(dataDir.path, 'master');
  const joinTokenFile = join(secrets, 'join-token');
  const adminToken = (await readFile(join(secrets, 'bootstrap-token'), 'utf8')).trim();
  const joining = { CLOUDAI_JOIN_TOKEN_FILE: joinTokenFile };

  const suffix = Math.random().toString(36).slice(2, 8);
  const workerId = (i: number) => `worker-${i}-${suffix}`;
  const startWorker = async (i: number, env: Record<string, string> = {}) => {
    const w = await startApp(`worker-${i}`, 'worker', {
      ...base,
      ...tlsEnv('worker'),
      WORKER_ID: workerId(i),
      LISTEN_ADDR: '127.0.0.1:0',
      CLOUDAI_MASTER: masterAddr,
      CLOUDAI_STORAGE: storageAddr,
      ...joining,
      ...options.workerEnv?.(i),
      ...env,
    }, (l) => l.msg === 'registered with the master');
    apps.set(`worker-${i}`, w);
    return w;
  };
  for (let i = 1; i <= (options.workers ?? 1); i++) await startWorker(i);
  if (options.scheduler !== false) {
    const s = await startApp('scheduler', 'scheduler', {
      ...base,
      ...tlsEnv('scheduler'),
      CLOUDAI_MASTER: masterAddr,
      LISTEN_ADDR: '127.0.0.1:0',
      ...joining,
      ...options.schedulerEnv,
    });
    apps.set('scheduler', s);
  }
  const cliTlsArgs = certs
    ? ['--tls-ca', certs.caFile, '--tls-cert', certs.files('cli').certFile, '--tls-key', certs.files('cli').keyFile]
    : [];
  // The tests act as a plain user, made the way an admin would make one.
  const added = await runCli(['--master', masterAddr, ...cliTlsArgs, 'users', 'add', 'e2e', '--json'], {
    CLOUDAI_TOKEN: adminToken,
  });
  if (added.code !== 0) throw new Error(`could not create the e2e user: ${added.stderr}`);
  const userToken = (JSON.parse(added.stdout) as { token: string }).token;
  return {
    masterAddr,
    adminToken,
    userToken,
    cli: (args, env = {}) => runCli(['--master', masterAddr, ...cliTlsArgs, ...args], { CLOUDAI_TOKEN: userToken, ...env }),
    joinTokenFile,
    workerId,
    storageAddr,
    storageAddrs,
    dataDir,
    certs,
    cliTlsArgs,
    apps,
    startWorker,
    async stop() {
      const order = [...apps.values()].sort((a, b) => rank(a.name) - rank(b.name));
      for (const app of order) await stopApp(app);
      await dataDir.remove();
    },
  };
}

function rank(name: string): number {
  if (name.startsWith('worker')) return 0;
  if (name === 'scheduler') return 1;
  return 2;
}

export { stopApp };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where runCli points the CLI's config folder: nowhere, unless a test passes its own XDG_CONFIG_HOME. */
const NO_CONFIG = join(REPO_ROOT, '.no-cloudai-config');

/** Runs the built `cloudai` binary the way a user would. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [appMain('cli'), ...args], {
      // A config folder of its own (none): the machine's cloudai profiles must not leak into a test.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', XDG_CONFIG_HOME: NO_CONFIG, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}
