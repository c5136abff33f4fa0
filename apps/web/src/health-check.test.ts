import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseEnv } from '@cloudai/config';
import { createLogger } from '@cloudai/logger';
import { devCertificates, REPO_ROOT, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Env } from './env.js';
import { Web } from './web.js';

// The web image's HEALTHCHECK command, run as Docker runs it: a process with
// the app's environment, judged by its exit code, against a real web server
// (its master is never called: /healthz does not need it).
const COMMAND = join(REPO_ROOT, 'apps', 'web', 'dist', 'health-check-main.js');

let dir: TempDir;
let certs: DevCertificates;
const webs: Web[] = [];

beforeAll(async () => {
  if (!existsSync(COMMAND)) throw new Error(`${COMMAND} is missing: run \`pnpm build\` first`);
  dir = await tempDir('cloudai-web-health-');
  certs = await devCertificates(join(dir.path, 'certs'));
});

afterAll(async () => {
  for (const web of webs) await web.stop();
  await dir?.remove();
});

async function serve(env: Record<string, string> = {}): Promise<Web> {
  const parsed = parseEnv(Env, { WEB_LISTEN_ADDR: '127.0.0.1:0', CLOUDAI_MASTER: '127.0.0.1:1', ...env });
  const web = new Web(parsed, createLogger({ name: 'web', level: 'silent' }));
  webs.push(web);
  await web.start();
  return web;
}

function probe(env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [COMMAND], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout) => {
      resolve({ code: err ? Number(err.code ?? -1) : 0, stdout: stdout.trim() });
    });
  });
}

/** Everything `socket` has received once `done` says it is enough; the socket stays open. */
function readUntil(socket: Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish();
    };
    const finish = () => {
      socket.off('data', onData).off('end', finish).off('error', reject);
      resolve(text);
    };
    socket.on('data', onData).once('end', finish).once('error', reject);
  });
}

describe('the web image health check', () => {
  it('exits 0 while the app serves GET /healthz (no token, not the console) and 1 once it has stopped', async () => {
    const web = await serve();
    const address = web.address;
    const res = await fetch(`${web.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'SERVING' });
    expect(await probe({ WEB_LISTEN_ADDR: address })).toEqual({ code: 0, stdout: `http://${address}/healthz: 200 SERVING` });
    await web.stop();
    const r = await probe({ WEB_LISTEN_ADDR: address });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unhealthy: http:\/\/127\.0\.0\.1:\d+\/healthz: connect ECONNREFUSED/);
  });

  it('asks over HTTPS when the app serves HTTPS, whatever names its certificate holds', async () => {
    const tls = { TLS_CERT_FILE: certs.files('web').certFile, TLS_KEY_FILE: certs.files('web').keyFile };
    const web = await serve(tls);
    expect(await probe({ WEB_LISTEN_ADDR: web.address, ...tls })).toEqual({ code: 0, stdout: `https://${web.address}/healthz: 200 SERVING` });
    // Without the TLS variables it asks in plain HTTP, which an HTTPS server does not answer with a 200.
    expect((await probe({ WEB_LISTEN_ADDR: web.address })).code).toBe(1);
  });

  it('answers 503 to a health request that arrives while the app drains', async () => {
    const web = await serve({ SHUTDOWN_GRACE_MS: '30000' });
    const { port } = new URL(web.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    // A request still in flight keeps the connection open through the drain:
    // its body comes only after the stop has begun (100 Continue says the
    // server has taken the request), with the health request right behind it.
    socket.write(
      'POST /api/v1/tasks HTTP/1.1\r\nHost: web\r\nAuthorization: Bearer cai_x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 2\r\nExpect: 100-continue\r\n\r\n',
    );
    await readUntil(socket, (text) => text.includes('100 Continue\r\n\r\n'));
    const stopped = web.stop();
    socket.write('{}GET /healthz HTTP/1.1\r\nHost: web\r\n\r\n');
    const answers = await readUntil(socket, (text) => text.includes('NOT_SERVING') || text.includes('"SERVING"'));
    socket.destroy();
    await stopped;
    // The request in flight is answered (an invalid task: 400), then the health request is refused.
    expect(answers.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 503']);
    expect(answers).toContain('{"status":"NOT_SERVING"}');
  });
});
