import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from './registry.js';
import { startMetricsServer, type MetricsServerOptions, type RunningMetricsServer } from './metrics-server.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'cam_0123456789abcdefghijklmnopqrstuv';

let dir: TempDir;
let certs: DevCertificates;
beforeAll(async () => {
  dir = await tempDir('cloudai-metrics-');
  certs = await devCertificates(join(dir.path, 'certs'));
});
afterAll(() => dir.remove());

const started: RunningMetricsServer[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.close();
});

async function serve(options: Partial<MetricsServerOptions> = {}): Promise<RunningMetricsServer> {
  const server = await startMetricsServer({ listenAddr: '127.0.0.1:0', registry: createRegistry(), logger, ...options });
  started.push(server);
  return server;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request to 127.0.0.1:`port`, over HTTPS when `ca` is given (verified against it). */
function get(
  port: number,
  path: string,
  { method = 'GET', authorization, ca }: { method?: string; authorization?: string; ca?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      port,
      path,
      method,
      headers: authorization ? { authorization } : {},
      // No pooled connections between tests: close() must be what ends them.
      agent: false,
    } as const;
    const req = ca ? httpsRequest({ ...options, ca, servername: 'localhost' }) : httpRequest(options);
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end();
  });
}

describe('the metrics endpoint', () => {
  it('serves the registry at GET /metrics in the Prometheus text format, with the default process metrics', async () => {
    const registry = createRegistry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    const server = await serve({ registry });
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    const answer = await get(server.port, '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(answer.body).toContain('# TYPE process_cpu_seconds_total counter');
    expect(answer.body).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(answer.body).toContain('test_things_total 3');
    // With a query string too, as some scrapers send one.
    expect((await get(server.port, '/metrics?x=1')).status).toBe(200);
  });

  it('answers 404 on every other path and 405 to other methods', async () => {
    const server = await serve();
    for (const path of ['/', '/metric', '/metrics/', '/favicon.ico']) {
      const answer = await get(server.port, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
      expect(answer.body).not.toContain('process_cpu');
    }
    const post = await get(server.port, '/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await get(server.port, '/metrics', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('with a token, answers 401 unless the request carries it as a bearer token', async () => {
    const server = await serve({ token: TOKEN });
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ']) {
      const answer = await get(server.port, '/metrics', { authorization });
      expect({ authorization, status: answer.status }).toEqual({ authorization, status: 401 });
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(answer.body).not.toContain('process_cpu');
    }
    // Not even which paths exist without it.
    expect((await get(server.port, '/nowhere')).status).toBe(401);
    expect((await get(server.port, '/nowhere', { authorization: `Bearer ${TOKEN}` })).status).toBe(404);
    const ok = await get(server.port, '/metrics', { authorization: `bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('process_cpu_seconds_total');
  });

  it('answers 500 with a log line when collecting fails, and keeps serving', async () => {
    const registry = new Registry();
    let fail = true;
    new Counter({
      name: 'test_flaky_total',
      help: 'collects from somewhere that fails once',
      registers: [registry],
      collect() {
        if (fail) throw new Error('the store is away');
      },
    });
    const lines: { msg: string; err?: { message: string } }[] = [];
    const captured = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const server = await serve({ registry, logger: captured });
    const failed = await get(server.port, '/metrics');
    expect(failed.status).toBe(500);
    expect(failed.body).not.toContain('the store is away');
    expect(lines).toEqual([expect.objectContaining({ msg: 'metrics could not be collected', err: expect.objectContaining({ message: 'the store is away' }) })]);
    fail = false;
    expect((await get(server.port, '/metrics')).body).toContain('test_flaky_total 0');
  });

  it('close() stops listening and ends open connections, even one in the middle of a request', async () => {
    const server = await startMetricsServer({ listenAddr: '127.0.0.1:0', registry: createRegistry(), logger });
    // A scraper that sent half its request: the connection is busy, not idle, so only closing it ends it.
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await server.close();
    await ended;
    await expect(get(server.port, '/metrics')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('beyond loopback', () => {
  const tls = () => certs.pem('master');

  it.each([
    ['neither HTTPS nor a token', {}, /without TLS_CERT_FILE and TLS_KEY_FILE \(HTTPS\) and METRICS_TOKEN_FILE/],
    ['HTTPS without a token', { tls: true }, /without METRICS_TOKEN_FILE \(a bearer token scrapers must send\): /],
    ['a token over plain HTTP', { token: TOKEN }, /without TLS_CERT_FILE and TLS_KEY_FILE \(HTTPS\): /],
  ])('refuses to serve with %s, naming what is missing and CLOUDAI_ALLOW_INSECURE', async (_, given, problem) => {
    const options = { listenAddr: '0.0.0.0:0', ...('tls' in given ? { tls: tls() } : {}), ...('token' in given ? { token: TOKEN } : {}) };
    const refused = serve(options);
    await expect(refused).rejects.toThrow(problem);
    await expect(refused).rejects.toThrow(/refusing to serve metrics on 0\.0\.0\.0:0, which is not a loopback address, .*CLOUDAI_ALLOW_INSECURE=true/);
  });

  it('serves HTTPS that requires the token', async () => {
    const server = await serve({ listenAddr: '0.0.0.0:0', tls: tls(), token: TOKEN });
    expect(server.address).toBe(`0.0.0.0:${server.port}`);
    expect((await get(server.port, '/metrics', { ca: certs.ca })).status).toBe(401);
    const ok = await get(server.port, '/metrics', { ca: certs.ca, authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('process_cpu_seconds_total');
    // Plain HTTP is not answered on an HTTPS port.
    await expect(get(server.port, '/metrics', { authorization: `Bearer ${TOKEN}` })).rejects.toThrow();
  });

  it('serves plain HTTP without a token when the operator allows it (CLOUDAI_ALLOW_INSECURE), with a warning', async () => {
    const lines: string[] = [];
    const warned = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const server = await serve({ listenAddr: '0.0.0.0:0', allowInsecure: true, logger: warned });
    expect((await get(server.port, '/metrics')).status).toBe(200);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'serving metrics beyond loopback without HTTPS or a token, because CLOUDAI_ALLOW_INSECURE=true',
    ]);
  });

  it.each(['127.0.0.1:0', 'localhost:0', '[::1]:0'])('needs neither on loopback (%s)', async (listenAddr) => {
    const server = await serve({ listenAddr });
    expect(server.address).toBe(`${listenAddr.slice(0, listenAddr.lastIndexOf(':'))}:${server.port}`);
  });
});
