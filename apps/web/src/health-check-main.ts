// The web image's container health check (HEALTHCHECK in
// docker/web.Dockerfile): GET /healthz of the app's own server at
// WEB_LISTEN_ADDR, over HTTPS when the app serves HTTPS (TLS_CERT_FILE and
// TLS_KEY_FILE). Exits 0 on a 200 saying SERVING and 1 otherwise (a 200
// from anything else, such as the console's index.html, is no answer),
// printing one line that Docker keeps in the container's health log. It reads the variables the app
// reads, so the image's HEALTHCHECK needs no settings of its own.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { healthCheckTarget } from '@cloudai/rpc';
import { HEALTH_PATH } from './health-path.js';

const { WEB_LISTEN_ADDR = '127.0.0.1:8080', TLS_CERT_FILE, TLS_KEY_FILE } = process.env;
const secure = Boolean(TLS_CERT_FILE && TLS_KEY_FILE);
const url = `${secure ? 'https' : 'http'}://${healthCheckTarget(WEB_LISTEN_ADDR)}${HEALTH_PATH}`;

/** GET `url`'s status code and body; a server that cannot be reached or answers too late rejects. */
function probe(): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    // The probe asks the process it runs beside and sends nothing secret, so
    // the certificate is not verified: it need not name loopback, nor its CA be at hand.
    const options = { timeout: 3_000, ...(secure ? { rejectUnauthorized: false } : {}) };
    const req = (secure ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 1000)));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end();
  });
}

try {
  const { code, body } = await probe();
  const serving = code === 200 && body === JSON.stringify({ status: 'SERVING' });
  process.stdout.write(`${url}: ${code} ${serving ? 'SERVING' : JSON.stringify(body.slice(0, 100))}\n`);
  process.exitCode = serving ? 0 : 1;
} catch (err) {
  process.stdout.write(`unhealthy: ${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
