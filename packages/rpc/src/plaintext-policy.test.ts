import { devCertificates, tempDir, type TempDir } from '@cloudai/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost } from './plaintext-policy.js';
import { startGrpcServer, type GrpcServerOptions, type RunningGrpcServer } from './server.js';
import type { ServerTls } from './tls.js';

const logger = pino({ level: 'silent' });
const servers: RunningGrpcServer[] = [];
let dir: TempDir;
let tls: ServerTls;

beforeAll(async () => {
  dir = await tempDir('cloudai-plaintext-');
  tls = (await devCertificates(dir.path)).pem('master');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.shutdown(1_000)));
  await dir.remove();
});

async function start(options: Partial<GrpcServerOptions>): Promise<RunningGrpcServer> {
  const server = await startGrpcServer({ listenAddr: '127.0.0.1:0', logger, register: () => {}, ...options });
  servers.push(server);
  return server;
}

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LocalHost'])(
    '%s is loopback',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );

  it.each(['0.0.0.0', '::', '[::]', '10.0.0.7', '128.0.0.1', '192.168.1.1', 'master', 'localhost.example.com', ''])(
    '%j is not',
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});

describe('plaintext beyond loopback', () => {
  it('is refused, naming CLOUDAI_ALLOW_INSECURE and the TLS variables', async () => {
    await expect(start({ listenAddr: '0.0.0.0:0' })).rejects.toThrow(
      'refusing to serve plaintext gRPC on 0.0.0.0:0, which is not a loopback address: set TLS_CERT_FILE and ' +
        'TLS_KEY_FILE to serve TLS (scripts/dev-certs.sh makes a development CA and certificates), listen on ' +
        '127.0.0.1 instead, or set CLOUDAI_ALLOW_INSECURE=true to serve plaintext anyway',
    );
    await expect(start({ listenAddr: '[::]:0' })).rejects.toThrow(/CLOUDAI_ALLOW_INSECURE=true/);
  });

  it('is served when the operator allows it', async () => {
    const server = await start({ listenAddr: '0.0.0.0:0', allowInsecure: true });
    expect(server.address).toMatch(/^0\.0\.0\.0:[1-9]\d*$/);
  });

  it('TLS is served on any address', async () => {
    const server = await start({ listenAddr: '0.0.0.0:0', tls });
    expect(server.state()).toBe('SERVING');
  });

  it('loopback is served in plaintext with no setting', async () => {
    for (const listenAddr of ['127.0.0.1:0', '[::1]:0', 'localhost:0']) {
      expect((await start({ listenAddr })).state()).toBe('SERVING');
    }
  });
});
