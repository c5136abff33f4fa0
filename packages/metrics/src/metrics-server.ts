import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isLoopbackHost, splitHostPort } from '@cloudai/rpc';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { bearerCheck } from './bearer.js';

export interface MetricsServerOptions {
  /** "host:port"; port 0 picks a free port */
  listenAddr: string;
  registry: Registry;
  logger: Logger;
  /** serve HTTPS with this certificate and key instead of plain HTTP */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** when set, every request must carry `authorization: Bearer <token>` */
  token?: string | undefined;
  /** serve beyond loopback without HTTPS and a token (CLOUDAI_ALLOW_INSECURE); refused otherwise */
  allowInsecure?: boolean;
}

export interface RunningMetricsServer {
  /** the bound "host:port", with the real port when 0 was asked */
  readonly address: string;
  readonly port: number;
  /** Stops listening and ends open connections (scrapers keep theirs alive). */
  close(): Promise<void>;
}

/**
 * Serves the registry in Prometheus' text format at GET /metrics, and 404
 * on every other path. Beyond loopback it needs HTTPS and a bearer token:
 * metrics tell how busy the cluster is and with what, which is not for
 * anyone on the network.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningMetricsServer> {
  const { host } = splitHostPort(options.listenAddr);
  assertExposureAllowed(options, host);
  const authorized = options.token === undefined ? () => true : bearerCheck(options.token);
  const log = options.logger;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    void answer(req, res, options.registry, authorized).catch((err: unknown) => {
      log.error({ err }, 'metrics could not be collected');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics could not be collected; see the log\n');
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handle)
    : createHttpServer(handle);
  const { port: wanted } = splitHostPort(options.listenAddr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: unbracketed(host), port: wanted }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  authorized: (header: string | undefined) => boolean,
): Promise<void> {
  // Before anything else: without the token, not even which paths exist.
  if (!authorized(req.headers.authorization)) {
    res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="metrics"' });
    res.end('a bearer token is required\n');
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
    res.end('method not allowed\n');
    return;
  }
  const body = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function assertExposureAllowed(options: MetricsServerOptions, host: string): void {
  if (isLoopbackHost(host) || (options.tls && options.token !== undefined)) return;
  const missing = [
    ...(options.tls ? [] : ['TLS_CERT_FILE and TLS_KEY_FILE (HTTPS)']),
    ...(options.token !== undefined ? [] : ['METRICS_TOKEN_FILE (a bearer token scrapers must send)']),
  ];
  if (options.allowInsecure) {
    // The same switch opens plaintext gRPC: say loudly that it opened metrics too.
    options.logger.warn(
      { listenAddr: options.listenAddr, missing },
      'serving metrics beyond loopback without HTTPS or a token, because CLOUDAI_ALLOW_INSECURE=true',
    );
    return;
  }
  throw new Error(
    `refusing to serve metrics on ${options.listenAddr}, which is not a loopback address, without ${missing.join(' and ')}: ` +
      'set them, serve on 127.0.0.1 instead, or set CLOUDAI_ALLOW_INSECURE=true to serve anyway',
  );
}

/** node:net takes "::1", not "[::1]". */
function unbracketed(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
