import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { devCertificates, REPO_ROOT, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckTarget } from './health-check.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { capturedLogs } from './testing/captured-logs.js';

// The images' HEALTHCHECK command, run as Docker runs it: a process with the
// app's environment, judged by its exit code.
const COMMAND = join(REPO_ROOT, 'packages', 'rpc', 'dist', 'health-check-main.js');

let dir: TempDir;
let certs: DevCertificates;
const servers: RunningGrpcServer[] = [];

beforeAll(async () => {
  if (!existsSync(COMMAND)) throw new Error(`${COMMAND} is missing: run \`pnpm build\` first`);
  dir = await tempDir('cloudai-health-check-');
  certs = await devCertificates(join(dir.path, 'certs'));
});

afterAll(async () => {
  for (const server of servers) await server.shutdown(1_000);
  await dir?.remove();
});

async function serve(listenAddr: string, tls?: 'tls' | 'mtls'): Promise<RunningGrpcServer> {
  const server = await startGrpcServer({
    listenAddr,
    logger: capturedLogs().logger,
    register: () => {},
    tls: tls && { ...certs.pem('master'), clientCa: tls === 'mtls' ? certs.ca : undefined },
  });
  servers.push(server);
  return server;
}

function probe(env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [COMMAND], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout) => {
      resolve({ code: err ? Number(err.code ?? -1) : 0, stdout: stdout.trim() });
    });
  });
}

describe('the images health check', () => {
  it('exits 0 while the server is SERVING and 1 once it is not', async () => {
    const server = await serve('127.0.0.1:0');
    expect(await probe({ LISTEN_ADDR: server.address })).toEqual({ code: 0, stdout: 'SERVING' });
    server.setServing(false);
    expect(await probe({ LISTEN_ADDR: server.address })).toEqual({ code: 1, stdout: 'NOT_SERVING' });
  });

  it('exits 1 when nothing listens', async () => {
    const server = await serve('127.0.0.1:0');
    await server.shutdown(1_000);
    const r = await probe({ LISTEN_ADDR: server.address });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unhealthy: /);
  });

  it('dials a wildcard LISTEN_ADDR on loopback, over TLS with the app’s certificate when the server requires one', async () => {
    const server = await serve('0.0.0.0:0', 'mtls');
    const { certFile, keyFile } = certs.files('master');
    const listenAddr = `0.0.0.0:${server.port}`;
    expect(await probe({ LISTEN_ADDR: listenAddr, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile })).toEqual({
      code: 0,
      stdout: 'SERVING',
    });
    // Plaintext, as without the app's TLS variables, gets no answer from a TLS server.
    expect((await probe({ LISTEN_ADDR: listenAddr })).code).toBe(1);
  });

  it('exits 1 without LISTEN_ADDR', async () => {
    expect(await probe({})).toEqual({ code: 1, stdout: 'unhealthy: LISTEN_ADDR is not set' });
  });
});

describe('healthCheckTarget', () => {
  it('keeps a named host and maps wildcards to loopback', () => {
    expect(healthCheckTarget('127.0.0.1:50051')).toBe('127.0.0.1:50051');
    expect(healthCheckTarget('master:50051')).toBe('master:50051');
    expect(healthCheckTarget('0.0.0.0:50051')).toBe('127.0.0.1:50051');
    expect(healthCheckTarget('[::]:50051')).toBe('127.0.0.1:50051');
    expect(healthCheckTarget(':50051')).toBe('127.0.0.1:50051');
  });
});
