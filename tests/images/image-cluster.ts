import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPO_ROOT, removeContainersLabelled, requireDocker, tempDir, TEST_IMAGE } from '@cloudai/testing';
import { COMPOSE, DOCKER, freePorts, run, runOk, type CommandResult } from './commands.js';

/** Every image docker/build.sh builds, as compose.yaml names them. */
export const APPS = ['master', 'scheduler', 'storage', 'worker', 'web', 'cli'] as const;
export type App = (typeof APPS)[number];
/** The long-running services of compose.yaml, each with a health check. */
export const SERVICES = ['mongo', 'master', 'storage', 'scheduler', 'worker', 'web'] as const;
export type Service = (typeof SERVICES)[number];

export const imageOf = (app: App) => `cloudai/${app}:local`;

const COMPOSE_FILES = ['-f', 'docker/compose.yaml', '-f', 'docker/compose.local.yaml'];

/**
 * Builds every app's image with docker/build.sh, on a Node 24 base made here
 * from the Node binary these tests run on (no registry serves images on
 * CI's engine), and the FerretDB image. Throws with the end of the build's
 * log when anything fails. Returns how long it took.
 */
export async function buildImages(log: string): Promise<number> {
  const started = Date.now();
  const env = {
    ...process.env,
    NODE_IMAGE: 'local',
    CLOUDAI_NODE_BIN: process.env.CLOUDAI_NODE_BIN ?? dirname(process.execPath),
  };
  for (const script of ['docker/build.sh --prune', 'docker/local-images.sh ferretdb']) {
    const [file, ...args] = script.split(' ');
    const r = await run('bash', [file!, ...args], { env, cwd: REPO_ROOT, log });
    if (r.code !== 0) {
      const tail = (await run('tail', ['-n', '60', log])).stdout;
      throw new Error(`${script} exited with ${r.code}; the end of ${log}:\n${tail}`);
    }
  }
  return (Date.now() - started) / 1000;
}

export interface ImageCluster {
  workerId: string;
  /** the admin's bootstrap token, from the master's data volume */
  adminToken: string;
  /** the host folder the CLI container works in (/work) */
  outDir: string;
  /** the cluster's CA certificate (PEM), which signed every service's certificate */
  ca: string;
  /** the bearer token the services' metrics endpoints require */
  metricsToken: string;
  /** each service's metrics endpoint, host:port on loopback (the web console serves none) */
  metricsAddr: Record<Exclude<Service, 'mongo' | 'web'>, string>;
  /** the web console and its HTTP API: https://127.0.0.1:<port> */
  webUrl: string;
  /** the container of a compose service, or of the CLI (which runs outside compose) */
  containerOf(service: Service | 'cli'): Promise<string>;
  /** `docker inspect`'s health status of the service's container */
  health(service: Service): Promise<string>;
  /** Runs `cloudai ARGS` in the long-lived CLI container (the image's entrypoint, through docker exec) with `token`. */
  cli(args: string[], token: string): Promise<CommandResult>;
  /** Runs `cloudai ARGS` as `docker run --rm cloudai/cli`, the way its Dockerfile says to. */
  cliRun(args: string[], token: string): Promise<CommandResult>;
  /** Stops and removes every container, volume and file of the cluster; safe to call twice. */
  down(): Promise<void>;
}

/**
 * docker/compose.yaml with docker/compose.local.yaml, from the images built
 * above: FerretDB as MongoDB, TLS and mTLS everywhere, the cluster's secrets,
 * and every service on the host's network at ports free right now, under a
 * compose project of its own. Tears itself down if it cannot start.
 */
export async function startImageCluster(): Promise<ImageCluster> {
  const docker = await requireDocker();
  const dir = await tempDir('cloudai-images-');
  const suffix = Math.random().toString(36).slice(2, 8);
  const project = `cloudai-images-${suffix}`;
  const workerId = `worker-images-${suffix}`;
  const cliName = `${project}-cli`;
  const [mongo, master, storage, scheduler, worker, web, masterMetrics, storageMetrics, schedulerMetrics, workerMetrics] =
    await freePorts(10);
  const paths = { certs: join(dir.path, 'certs'), secrets: join(dir.path, 'secrets'), data: join(dir.path, 'data'), out: join(dir.path, 'out') };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CLOUDAI_CERTS_DIR: paths.certs,
    CLOUDAI_SECRETS_DIR: paths.secrets,
    CLOUDAI_WORKER_DATA_DIR: paths.data,
    CLOUDAI_WORKER_ID: workerId,
    CLOUDAI_MONGO_PORT: String(mongo),
    CLOUDAI_MASTER_PORT: String(master),
    CLOUDAI_STORAGE_PORT: String(storage),
    CLOUDAI_SCHEDULER_PORT: String(scheduler),
    CLOUDAI_WORKER_PORT: String(worker),
    CLOUDAI_WEB_PORT: String(web),
    CLOUDAI_MASTER_METRICS_PORT: String(masterMetrics),
    CLOUDAI_STORAGE_METRICS_PORT: String(storageMetrics),
    CLOUDAI_SCHEDULER_METRICS_PORT: String(schedulerMetrics),
    CLOUDAI_WORKER_METRICS_PORT: String(workerMetrics),
    DOCKER_GID: (await runOk('stat', ['-c', '%g', '/var/run/docker.sock'])).trim(),
  };
  const compose = (...args: string[]) => run(COMPOSE, ['-p', project, ...COMPOSE_FILES, ...args], { env, cwd: REPO_ROOT });
  const containerOf = async (service: Service | 'cli') => {
    if (service === 'cli') return cliName;
    const id = (await runOk(COMPOSE, ['-p', project, ...COMPOSE_FILES, 'ps', '-q', service], { env, cwd: REPO_ROOT })).trim();
    if (!id) throw new Error(`compose has no ${service} container`);
    return id;
  };
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  let stopped = false;
  const down = async () => {
    if (stopped) return;
    stopped = true;
    await run(DOCKER, ['rm', '-f', cliName]);
    const r = await compose('down', '-v', '--remove-orphans', '-t', '15');
    if (r.code !== 0) console.warn(`compose down failed: ${r.stderr}`);
    await removeContainersLabelled(docker, `cloudai.worker_id=${workerId}`);
    // Task outputs and the worker's folders belong to uid 1000 or root;
    // a container of the test image removes whatever this user cannot.
    await rm(dir.path, { recursive: true, force: true }).catch(() =>
      run(DOCKER, ['run', '--rm', '-v', `${dir.path}:/wipe`, TEST_IMAGE, 'rm', '-rf', '/wipe/certs', '/wipe/secrets', '/wipe/data', '/wipe/out']),
    );
    await dir.remove().catch(() => {});
  };

  try {
    await mkdir(paths.data);
    await mkdir(paths.out);
    // As docker/README.md says: the services run as uid 1000 and must read
    // their keys and secrets. --owner needs root; anyone else makes them readable.
    const owner = uid === 0 ? ['--owner', '1000:1000'] : [];
    await runOk('bash', ['scripts/dev-certs.sh', paths.certs, ...owner], { cwd: REPO_ROOT });
    await runOk('bash', ['scripts/dev-secrets.sh', paths.secrets, ...owner], { cwd: REPO_ROOT });
    if (uid !== 0) {
      for (const f of ['master', 'storage', 'worker', 'scheduler', 'web']) await chmod(join(paths.certs, `${f}.key`), 0o644);
      for (const f of ['join-token', 'metrics-token', 'signing-key.pem']) await chmod(join(paths.secrets, f), 0o644);
    }

    const up = await compose('up', '-d', '--no-build');
    if (up.code !== 0) {
      const logs = await compose('logs', '--no-color', '--tail', '30');
      throw new Error(`compose up failed: ${up.stderr.trim()}\n${logs.stdout}`);
    }
    const adminToken = (await runOk(DOCKER, ['exec', await containerOf('master'), 'cat', '/data/master/bootstrap-token'])).trim();

    const entrypoint = JSON.parse(
      await runOk(DOCKER, ['image', 'inspect', '--format', '{{json .Config.Entrypoint}}', imageOf('cli')]),
    ) as string[];
    const cliEnv = (token: string) => [
      '-e', `CLOUDAI_MASTER=127.0.0.1:${master}`,
      '-e', 'CLOUDAI_TLS_CA=/certs/ca.crt',
      '-e', 'CLOUDAI_TLS_CERT=/certs/cli.crt',
      '-e', 'CLOUDAI_TLS_KEY=/certs/cli.key',
      '-e', `CLOUDAI_TOKEN=${token}`,
    ];
    // As the image's usage says: this user, so that cli.key (0600) is readable.
    const cliMounts = ['--network', 'host', '--user', `${uid}:${gid}`, '-v', `${paths.certs}:/certs:ro`, '-v', `${paths.out}:/work`];
    // One container for every call: `docker run` copies the image's whole
    // file system on this engine's vfs driver, `docker exec` does not.
    await runOk(DOCKER, [
      'run', '-d', '--name', cliName, ...cliMounts, '--entrypoint', 'node', imageOf('cli'), '-e', 'setInterval(() => {}, 1 << 30)',
    ]);

    return {
      workerId,
      adminToken,
      outDir: paths.out,
      ca: await readFile(join(paths.certs, 'ca.crt'), 'utf8'),
      metricsToken: (await readFile(join(paths.secrets, 'metrics-token'), 'utf8')).trim(),
      metricsAddr: {
        master: `127.0.0.1:${masterMetrics}`,
        storage: `127.0.0.1:${storageMetrics}`,
        scheduler: `127.0.0.1:${schedulerMetrics}`,
        worker: `127.0.0.1:${workerMetrics}`,
      },
      webUrl: `https://127.0.0.1:${web}`,
      containerOf,
      health: async (service) => (await runOk(DOCKER, ['inspect', '--format', '{{.State.Health.Status}}', await containerOf(service)])).trim(),
      cli: (args, token) => run(DOCKER, ['exec', ...cliEnv(token), cliName, ...entrypoint, ...args]),
      cliRun: (args, token) => run(DOCKER, ['run', '--rm', ...cliMounts, ...cliEnv(token), imageOf('cli'), ...args]),
      down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}
