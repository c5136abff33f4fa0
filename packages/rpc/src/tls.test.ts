import { HealthDefinition } from 'nice-grpc-server-health';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorKind } from './client-errors.js';
import { connect } from './client.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import type { ClientTls, ServerTls } from './tls.js';

// Real servers on 127.0.0.1:0 with certificates from scripts/dev-certs.sh:
// `ours` is the CA the servers trust, `theirs` another one.

const logger = pino({ level: 'silent' });
let dir: TempDir;
let ours: DevCertificates;
let theirs: DevCertificates;
const servers: RunningGrpcServer[] = [];

beforeAll(async () => {
  dir = await tempDir('cloudai-tls-');
  ours = await devCertificates(`${dir.path}/ours`);
  theirs = await devCertificates(`${dir.path}/theirs`);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.shutdown(1_000)));
  await dir.remove();
});

async function serve(tls?: ServerTls): Promise<string> {
  const server = await startGrpcServer({ listenAddr: '127.0.0.1:0', logger, register: () => {}, tls });
  servers.push(server);
  return server.address;
}

/** The health check's answer, or how the call failed: its kind and grpc-js's text. */
async function check(address: string, tls?: ClientTls): Promise<string> {
  const client = connect(HealthDefinition, address, { tls, defaultDeadlineMs: 10_000 });
  try {
    const { status } = await client.client.check({ service: '' });
    return `status ${status}`;
  } catch (err) {
    return `${clientErrorKind(err)}: ${(err as { details?: string }).details ?? String(err)}`;
  } finally {
    client.close();
  }
}

const SERVING = 'status 1';

describe('TLS between a server and its clients', () => {
  it('a client verifying the server against the CA that signed it gets through', async () => {
    const address = await serve(ours.pem('master'));
    expect(await check(address, { ca: ours.ca })).toBe(SERVING);
  });

  it('a client trusting another CA refuses the server', async () => {
    const address = await serve(ours.pem('master'));
    expect(await check(address, { ca: theirs.ca })).toMatch(/^unavailable: .*unable to verify the first certificate/);
  });

  it('a plaintext client does not get through to a TLS server', async () => {
    const address = await serve(ours.pem('master'));
    expect(await check(address)).toMatch(/^unavailable: /);
  });

  it('a TLS client does not get through to a plaintext server', async () => {
    const address = await serve();
    expect(await check(address, { ca: ours.ca })).toMatch(/^unavailable: .*wrong version number/);
  });
});

describe('mTLS: a server with clientCa', () => {
  let address: string;
  beforeAll(async () => {
    address = await serve({ ...ours.pem('master'), clientCa: ours.ca });
  });

  it('lets in a client presenting a certificate its CA signed', async () => {
    expect(await check(address, { ca: ours.ca, ...ours.pem('cli') })).toBe(SERVING);
    expect(await check(address, { ca: ours.ca, ...ours.pem('worker') })).toBe(SERVING);
  });

  it('refuses a client without a certificate', async () => {
    expect(await check(address, { ca: ours.ca })).toMatch(/^unavailable: .*certificate required/);
  });

  it('refuses a client whose certificate another CA signed', async () => {
    expect(await check(address, { ca: ours.ca, ...theirs.pem('cli') })).toMatch(/^unavailable: /);
  });
});

describe('connect', () => {
  it('refuses a client certificate without its key', () => {
    expect(() => connect(HealthDefinition, '127.0.0.1:1', { tls: { ca: ours.ca, cert: ours.pem('cli').cert } })).toThrow(
      /give both or neither/,
    );
  });

  it("drops only Node's warning about an IP address as TLS server name, once a TLS client exists", async () => {
    expect(await check(await serve(ours.pem('master')), { ca: ours.ca })).toBe(SERVING);
    const seen: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => seen.push(warning.code ?? warning.message);
    process.on('warning', onWarning);
    try {
      // As node:_tls_wrap emits it when grpc-js dials 127.0.0.1 over TLS.
      process.emitWarning('Setting the TLS ServerName to an IP address is not permitted', 'DeprecationWarning', 'DEP0123');
      process.emitWarning('something else', { type: 'DeprecationWarning', code: 'DEP0999' });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(seen).toEqual(['DEP0999']);
  });
});
