import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type ClientTls } from '@cloudai/rpc';
import {
  devCertificates,
  requireDocker,
  runCli,
  startApp,
  startCluster,
  stopApp,
  tempDir,
  TEST_IMAGE,
  type AppName,
  type AppProcess,
  type DevCertificates,
  type LocalCluster,
  type TempDir,
} from '@cloudai/testing';
import { HealthDefinition } from 'nice-grpc-server-health';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The apps that serve gRPC (and its health); the web app serves HTTP and is tested in apps/web. */
type GrpcAppName = Exclude<AppName, 'web'>;

// Transport security as operators and users meet it: real master, storage,
// scheduler and worker processes, certificates from scripts/dev-certs.sh,
// and the built `cloudai` binary.

let scratch: TempDir;
/** A second CA, which nothing in the cluster trusts. */
let theirs: DevCertificates;

beforeAll(async () => {
  scratch = await tempDir('cloudai-e2e-tls-');
  theirs = await devCertificates(join(scratch.path, 'theirs'));
});

afterAll(() => scratch?.remove());

describe('a cluster with mTLS between every process', () => {
  let cluster: LocalCluster;
  let certs: DevCertificates;
  const cli = (...args: string[]) => cluster.cli(args);
  /** The CLI with only what a test gives it besides the master's address. */
  const bareCli = (...args: string[]) => runCli(['--master', cluster.masterAddr, ...args], { CLOUDAI_TOKEN: cluster.userToken });

  beforeAll(async () => {
    await requireDocker();
    cluster = await startCluster({ workers: 1, tls: 'mtls' });
    certs = cluster.certs!;
  });

  afterAll(() => cluster?.stop());

  it('runs a task, streams its logs, and stores and downloads its outputs through the CLI', async () => {
    const script =
      'for i in 1 2 3 4 5; do echo line-$i; sleep 0.2; done; echo to-stderr >&2; ' +
      'mkdir -p /output/sub; echo 0.93 > /output/metrics.json; head -c 300000 /dev/urandom > /output/sub/blob.bin';
    const run = await cli('task', TEST_IMAGE, '--name', 'over-mtls', '--follow', '--', 'sh', '-c', script);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('line-1\nline-2\nline-3\nline-4\nline-5\n');
    const taskId = /^Task (\S+) \(over-mtls\) submitted$/m.exec(run.stderr)?.[1];
    expect(taskId).toBeDefined();
    // No warning of any kind next to the task's stderr and cloudai's own lines.
    expect(run.stderr.split('\n').filter((l) => l !== '')).toEqual([
      `Task ${taskId} (over-mtls) submitted`,
      'to-stderr',
      expect.stringMatching(new RegExp(`^--- ${taskId} SUCCEEDED exit 0 `)),
    ]);

    const logs = await cli('monitor', taskId!, '--no-follow', '--stdout');
    expect(logs.stdout).toBe('line-1\nline-2\nline-3\nline-4\nline-5\n');

    const listed = await cli('files', taskId!, '--json');
    expect(listed.code).toBe(0);
    const files = JSON.parse(listed.stdout) as { path: string; size: number }[];
    expect(files.map((f) => [f.path, f.size]).sort()).toEqual([
      ['metrics.json', 5],
      ['sub/blob.bin', 300_000],
    ]);
    const out = join(scratch.path, 'download');
    const download = await cli('download', taskId!, '--out', out);
    expect(download.code).toBe(0);
    expect(await readFile(join(out, 'metrics.json'), 'utf8')).toBe('0.93\n');
    expect((await readFile(join(out, 'sub', 'blob.bin'))).length).toBe(300_000);
  });

  it('a plaintext CLI gets one line saying the master may serve TLS, exit 3', async () => {
    const res = await bareCli('list');
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      `error: the master at ${cluster.masterAddr} closed the connection while it was being set up: it may serve TLS ` +
        '(pass --tls-ca with its CA) or refuse the client certificate (--tls-cert must be signed by a CA it trusts)\n',
    );
  });

  it('a CLI without a client certificate is told the master requires one', async () => {
    const res = await bareCli('--tls-ca', certs.caFile, 'list');
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      `error: the master at ${cluster.masterAddr} requires a client certificate (mTLS): pass --tls-cert and --tls-key ` +
        '(CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY)\n',
    );
  });

  it('a CLI presenting a certificate from another CA is refused', async () => {
    const { certFile, keyFile } = theirs.files('cli');
    const res = await bareCli('--tls-ca', certs.caFile, '--tls-cert', certFile, '--tls-key', keyFile, 'list');
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(new RegExp(`^error: the master at ${cluster.masterAddr} closed the connection while it was being set up: `));
    expect(res.stderr.split('\n')).toHaveLength(2);
  });

  it('a CLI trusting another CA refuses the master', async () => {
    const res = await runCli(['--master', cluster.masterAddr, 'list'], {
      CLOUDAI_TOKEN: cluster.userToken,
      CLOUDAI_TLS_CA: theirs.caFile,
      CLOUDAI_TLS_CERT: certs.files('cli').certFile,
      CLOUDAI_TLS_KEY: certs.files('cli').keyFile,
    });
    expect(res.code).toBe(3);
    // OpenSSL's reason depends on whether the server sends its CA along (it does when it also verifies clients).
    expect(res.stderr).toMatch(
      new RegExp(
        `^error: the certificate of the master at ${cluster.masterAddr} does not verify against --tls-ca \\(CLOUDAI_TLS_CA\\): ` +
          '(self-signed certificate in certificate chain|unable to verify the first certificate)\n$',
      ),
    );
  });

  it('a worker with a certificate from another CA cannot register', async () => {
    const workerId = `${cluster.workerId(9)}-rogue`;
    const rogue = await startApp(
      'rogue-worker',
      'worker',
      {
        CLOUDAI_DATA_DIR: cluster.dataDir.path,
        WORKER_ID: workerId,
        LISTEN_ADDR: '127.0.0.1:0',
        CLOUDAI_MASTER: cluster.masterAddr,
        CLOUDAI_STORAGE: cluster.storageAddr,
        CLOUDAI_JOIN_TOKEN_FILE: cluster.joinTokenFile,
        TLS_CERT_FILE: theirs.files('worker').certFile,
        TLS_KEY_FILE: theirs.files('worker').keyFile,
        TLS_CA_FILE: certs.caFile,
      },
      (l) => l.msg === 'cannot reach the master; retrying registration',
    );
    try {
      const workers = await cli('workers', '--all', '--json');
      expect(workers.code).toBe(0);
      const ids = (JSON.parse(workers.stdout) as { workerId: string }[]).map((w) => w.workerId);
      expect(ids).toEqual([cluster.workerId(1)]);
      expect(rogue.logs.some((l) => l.msg === 'registered with the master')).toBe(false);
    } finally {
      await stopApp(rogue);
    }
  });
});

describe('a TLS CLI against a plaintext master', () => {
  it('gets one line saying the master answered in plaintext', async () => {
    const data = await tempDir();
    const master = await startApp('plain-master', 'master', { CLOUDAI_DATA_DIR: data.path, LISTEN_ADDR: '127.0.0.1:0' });
    try {
      const address = String(master.readyLine.address);
      // Any well-formed token: the connection fails before one is looked at.
      const res = await runCli(['--master', address, '--tls-ca', theirs.caFile, 'list'], { CLOUDAI_TOKEN: `cai_${'a'.repeat(16)}_${'A'.repeat(43)}` });
      expect(res.code).toBe(3);
      expect(res.stderr).toBe(
        `error: the master at ${address} answered in plaintext, not TLS: it has no TLS_CERT_FILE, or --tls-ca ` +
          '(CLOUDAI_TLS_CA) is not meant for it\n',
      );
    } finally {
      await stopApp(master);
      await data.remove();
    }
  });
});

/** The line each app logs once its server is bound and its work started; `address` says where. */
const READY_LINE: Record<GrpcAppName, string> = {
  master: 'master listening',
  storage: 'storage listening',
  scheduler: 'scheduler listening',
  worker: 'worker started',
};

/** grpc.health.v1 HealthCheckResponse.ServingStatus.SERVING, or how the check failed. */
async function health(address: string, tls?: ClientTls): Promise<number | string> {
  const client = connect(HealthDefinition, address, { tls, defaultDeadlineMs: 10_000 });
  try {
    return (await client.client.check({ service: '' })).status;
  } catch (err) {
    return (err as Error).message;
  } finally {
    client.close();
  }
}

// Secure by default, in every app's composition root: nothing serves
// plaintext beyond loopback unless the operator says so.
describe.each(['master', 'storage', 'scheduler', 'worker'] as const)('%s on 0.0.0.0', (app) => {
  let data: TempDir;
  let certs: DevCertificates;
  const started: AppProcess[] = [];

  beforeAll(async () => {
    data = await tempDir();
    certs = await devCertificates(join(data.path, 'certs'));
  });

  afterAll(async () => {
    for (const proc of started) await stopApp(proc);
    await data.remove();
  });

  async function start(env: Record<string, string>, ready: string) {
    const proc = await startApp(
      app,
      app,
      {
        CLOUDAI_DATA_DIR: data.path,
        LISTEN_ADDR: '0.0.0.0:0',
        // No master runs: the scheduler and worker keep retrying, which is enough here.
        CLOUDAI_MASTER: '127.0.0.1:1',
        WORKER_ID: `tls-${app}-${process.pid}-${started.length}`,
        CLOUDAI_JOIN_TOKEN: `caj_${'A'.repeat(43)}`,
        ...env,
      },
      (l) => l.msg === ready,
    );
    started.push(proc);
    return proc;
  }

  /** The loopback address of a server listening on every interface. */
  const local = (proc: AppProcess & { readyLine: Record<string, unknown> }) =>
    `127.0.0.1:${String(proc.readyLine.address).split(':').pop()}`;

  it('refuses to start in plaintext, naming CLOUDAI_ALLOW_INSECURE', async () => {
    const proc = await start({}, 'failed to start');
    expect(await proc.exited).toBe(1);
    expect(proc.readyLine).toMatchObject({
      level: 60,
      err: {
        message:
          'refusing to serve plaintext gRPC on 0.0.0.0:0, which is not a loopback address: set TLS_CERT_FILE and ' +
          'TLS_KEY_FILE to serve TLS (scripts/dev-certs.sh makes a development CA and certificates), listen on ' +
          '127.0.0.1 instead, or set CLOUDAI_ALLOW_INSECURE=true to serve plaintext anyway',
      },
    });
  });

  it('serves plaintext with CLOUDAI_ALLOW_INSECURE=true', async () => {
    const proc = await start({ CLOUDAI_ALLOW_INSECURE: 'true' }, READY_LINE[app]);
    expect(await health(local(proc))).toBe(1);
  });

  it('serves mTLS with its certificate and a client CA, refusing plaintext and certificate-less clients', async () => {
    const { certFile, keyFile } = certs.files(app);
    const proc = await start(
      { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_CLIENT_CA_FILE: certs.caFile },
      READY_LINE[app],
    );
    expect(await health(local(proc), { ca: certs.ca, ...certs.pem('cli') })).toBe(1);
    expect(await health(local(proc), { ca: certs.ca })).toMatch(/UNAVAILABLE: .*certificate required/);
    expect(await health(local(proc))).toMatch(/UNAVAILABLE/);
  });
});
