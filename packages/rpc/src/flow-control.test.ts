import { HealthDefinition } from 'nice-grpc-server-health';
import { realpathSync } from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from './client.js';
import { FLOW_CONTROL_WINDOW_BYTES } from './flow-control.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import type { ClientTls, ServerTls } from './tls.js';

// Taken before any server starts (and so before the widening wraps it): what
// grpc-js would reach if it stopped creating its server through the wrapper.
const unwrappedCreateServer = http2.createServer;
const logger = pino({ level: 'silent' });

let certsDir: TempDir;
let certs: DevCertificates;
const servers: RunningGrpcServer[] = [];

beforeAll(async () => {
  certsDir = await tempDir('cloudai-flow-control-');
  certs = await devCertificates(certsDir.path);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.shutdown(1_000)));
  await certsDir.remove();
});

async function start(tls?: ServerTls): Promise<RunningGrpcServer> {
  const server = await startGrpcServer({ listenAddr: '127.0.0.1:0', logger, register: () => {}, tls });
  servers.push(server);
  return server;
}

/**
 * What a raw HTTP/2 client learns from the server: the per-stream window in
 * its SETTINGS, and the connection window (opened by WINDOW_UPDATE).
 */
async function windowsSeenBy(authority: string, options: http2.SecureClientSessionOptions = {}) {
  const session = http2.connect(authority, options);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    // The server queued its WINDOW_UPDATE with its SETTINGS; a ping sent
    // after those arrived is answered after it.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return { streamWindow: settings.initialWindowSize, connectionWindow: session.state.remoteWindowSize };
  } finally {
    session.close();
  }
}

describe('server flow-control window', () => {
  it('is 8 MiB per stream and per connection in plaintext', async () => {
    const server = await start();
    expect(await windowsSeenBy(`http://127.0.0.1:${server.port}`)).toEqual({
      streamWindow: FLOW_CONTROL_WINDOW_BYTES,
      connectionWindow: FLOW_CONTROL_WINDOW_BYTES,
    });
  });

  it('is 8 MiB per stream and per connection under TLS', async () => {
    const server = await start(certs.pem('master'));
    const windows = await windowsSeenBy(`https://127.0.0.1:${server.port}`, { ca: certs.ca });
    expect(windows).toEqual({ streamWindow: FLOW_CONTROL_WINDOW_BYTES, connectionWindow: FLOW_CONTROL_WINDOW_BYTES });
  });

  it('refuses to start when grpc-js creates its HTTP/2 server some other way', async () => {
    await start();
    const widened = http2.createServer;
    expect(widened).not.toBe(unwrappedCreateServer);
    // As a grpc-js upgrade that no longer goes through the wrapped function would.
    http2.createServer = unwrappedCreateServer;
    try {
      await expect(start()).rejects.toThrow(/did not create its HTTP\/2 server through http2\.createServer/);
    } finally {
      http2.createServer = widened;
    }
  });

  it('is served by the grpc-js that nice-grpc uses: one copy, the pinned version', () => {
    const require = createRequire(import.meta.url);
    const ours = require.resolve('@grpc/grpc-js/package.json');
    const niceGrpcs = createRequire(require.resolve('nice-grpc')).resolve('@grpc/grpc-js/package.json');
    expect(realpathSync(niceGrpcs)).toBe(realpathSync(ours));
    const pinned = (require('../package.json') as { dependencies: Record<string, string> }).dependencies['@grpc/grpc-js'];
    expect((require(ours) as { version: string }).version).toBe(pinned);
  });
});

/**
 * What a grpc-js client made by connect() advertises to `raw`, a bare HTTP/2
 * server: its per-stream window (in its SETTINGS) and its connection window.
 */
async function windowsAdvertisedTo(raw: http2.Http2Server | http2.Http2SecureServer, tls?: ClientTls, receiveWindowBytes?: number) {
  const seen = new Promise<{ streamWindow: number | undefined; connectionWindow: number }>((resolve, reject) => {
    raw.once('session', (session: http2.ServerHttp2Session) => {
      // localSettings: the client acknowledged ours, so it has read them
      // and queued its WINDOW_UPDATE; a ping sent now is answered after it.
      const settings = new Promise<http2.Settings>((res) => session.once('remoteSettings', res));
      session.once('localSettings', () => {
        settings.then(({ initialWindowSize }) => {
          session.ping((err) => {
            if (err) reject(err);
            else resolve({ streamWindow: initialWindowSize, connectionWindow: session.state.remoteWindowSize ?? 0 });
          });
        }, reject);
      });
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const client = connect(HealthDefinition, `127.0.0.1:${(raw.address() as AddressInfo).port}`, { tls, receiveWindowBytes });
  try {
    client.channel.getConnectivityState(true);
    return await seen;
  } finally {
    client.close();
    raw.close();
  }
}

describe('client flow-control window', () => {
  it('advertises 8 MiB per stream and opens 8 MiB on the connection', async () => {
    expect(await windowsAdvertisedTo(http2.createServer())).toEqual({
      streamWindow: FLOW_CONTROL_WINDOW_BYTES,
      connectionWindow: FLOW_CONTROL_WINDOW_BYTES,
    });
  });

  it('advertises the window a client asks for instead (a download that holds less)', async () => {
    expect(await windowsAdvertisedTo(http2.createServer(), undefined, 2 * 1024 * 1024)).toEqual({
      streamWindow: 2 * 1024 * 1024,
      connectionWindow: 2 * 1024 * 1024,
    });
  });

  it('advertises the same under TLS', async () => {
    const raw = http2.createSecureServer(certs.pem('master'));
    expect(await windowsAdvertisedTo(raw, { ca: certs.ca })).toEqual({
      streamWindow: FLOW_CONTROL_WINDOW_BYTES,
      connectionWindow: FLOW_CONTROL_WINDOW_BYTES,
    });
  });
});
