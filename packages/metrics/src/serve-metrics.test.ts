import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { metricsEnv, parseEnv, withTlsEnv } from '@cloudai/config';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRegistry } from './registry.js';
import { serveMetrics } from './serve-metrics.js';

const logger = pino({ level: 'silent' });
const Env = withTlsEnv(z.object(metricsEnv('127.0.0.1:0')));

let dir: TempDir;
let certs: DevCertificates;
let tokenFile: string;
beforeAll(async () => {
  dir = await tempDir('cloudai-serve-metrics-');
  certs = await devCertificates(join(dir.path, 'certs'));
  tokenFile = join(dir.path, 'metrics-token');
  await writeFile(tokenFile, 'scrape-me-0123456789\n', { mode: 0o600 });
});
afterAll(() => dir.remove());

/** Status of GET /metrics over HTTPS, verified against the test CA. */
function statusOf(port: number, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port, path: '/metrics', ca: certs.ca, servername: 'localhost', headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    })
      .once('error', reject)
      .end();
  });
}

describe('serveMetrics', () => {
  it('serves nothing when METRICS_ADDR is off', async () => {
    expect(await serveMetrics(parseEnv(Env, { METRICS_ADDR: 'off' }), createRegistry(), logger)).toBeUndefined();
  });

  it("serves HTTPS with the app's certificate and requires the token from METRICS_TOKEN_FILE, beyond loopback too", async () => {
    const { certFile, keyFile } = certs.files('storage');
    const env = parseEnv(Env, { METRICS_ADDR: '0.0.0.0:0', TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, METRICS_TOKEN_FILE: tokenFile });
    const server = await serveMetrics(env, createRegistry(), logger);
    try {
      expect(server?.address).toMatch(/^0\.0\.0\.0:\d+$/);
      expect(await statusOf(server!.port)).toBe(401);
      // The file's trailing newline is not part of the token.
      expect(await statusOf(server!.port, 'Bearer scrape-me-0123456789')).toBe(200);
    } finally {
      await server?.close();
    }
  });

  it('refuses plain HTTP beyond loopback unless CLOUDAI_ALLOW_INSECURE', async () => {
    await expect(serveMetrics(parseEnv(Env, { METRICS_ADDR: '0.0.0.0:0' }), createRegistry(), logger)).rejects.toThrow(
      /refusing to serve metrics on 0\.0\.0\.0:0/,
    );
    const allowed = await serveMetrics(parseEnv(Env, { METRICS_ADDR: '0.0.0.0:0', CLOUDAI_ALLOW_INSECURE: 'true' }), createRegistry(), logger);
    expect(allowed?.port).toBeGreaterThan(0);
    await allowed?.close();
  });
});
