import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { clientTlsOf, serverTlsOf } from '@cloudai/config';
import type { StopReason } from '@cloudai/lifecycle';
import type { Logger } from '@cloudai/logger';
import { isLoopbackHost } from '@cloudai/rpc';
import { ApiError, apiErrorOfClientError } from './api-error.js';
import { consoleDir, serveConsole } from './console-files.js';
import type { Caller, RequestContext } from './context.js';
import type { Env } from './env.js';
import { HEALTH_PATH } from './health-path.js';
import { sendError, sendJson } from './http-io.js';
import { asUser, MasterClients } from './master.js';
import { matchRoute } from './routes.js';
import { SESSION_COOKIE } from './session-api.js';
import { csrfMatches, Sessions } from './sessions.js';

export type WebState = 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

const API_PREFIX = '/api/v1';

/** The web process: the console's files and the HTTP API, acting on the master as each request's user. */
export class Web {
  private state: WebState = 'STARTING';
  private server?: Server;
  private master?: MasterClients;
  private readonly sessions: Sessions;
  /** aborted when the server stops: ends long requests (log and event streams, downloads) */
  private readonly stopping = new AbortController();
  private readonly consoleDir: string;
  private readonly log: Logger;

  constructor(
    private readonly env: Env,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'http' });
    this.sessions = new Sessions({ idleMs: env.WEB_SESSION_IDLE_MS, maxSessions: env.WEB_MAX_SESSIONS });
    this.consoleDir = consoleDir(env.WEB_CONSOLE_DIR);
  }

  /** host:port the server listens on. */
  get address(): string {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('web is not started');
    return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  }

  get url(): string {
    return `${this.secure ? 'https' : 'http'}://${this.address}`;
  }

  private get secure(): boolean {
    return serverTlsOf(this.env) !== undefined;
  }

  async start(): Promise<void> {
    const tls = serverTlsOf(this.env);
    const [host, port] = splitHostPort(this.env.WEB_LISTEN_ADDR);
    // The same rule as the gRPC servers: plaintext only on loopback, unless an operator says otherwise.
    if (!tls && !isLoopbackHost(host) && !this.env.CLOUDAI_ALLOW_INSECURE) {
      throw new Error(
        `refusing to serve plain HTTP on ${this.env.WEB_LISTEN_ADDR}, which is not a loopback address: anyone on the ` +
          'network could read the API tokens and session cookies; set TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, ' +
          'listen on 127.0.0.1 instead, or set CLOUDAI_ALLOW_INSECURE=true to serve plain HTTP anyway (behind a TLS proxy)',
      );
    }
    this.master = new MasterClients(this.env.CLOUDAI_MASTER, clientTlsOf(this.env));
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
    // Slow-loris guards: a request must arrive whole in time; long responses (streams) are not limited.
    this.server.headersTimeout = 20_000;
    this.server.requestTimeout = 60_000;
    const server = this.server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host.replace(/^\[|\]$/g, ''), () => {
        server.off('error', rej);
        res();
      });
    });
    this.state = 'RUNNING';
    this.log.info({ address: this.address, url: this.url, master: this.env.CLOUDAI_MASTER, console: this.consoleDir }, 'web listening');
  }

  async stop(reason: StopReason = 'signal'): Promise<void> {
    if (this.state === 'STOPPING' || this.state === 'STOPPED') return;
    this.state = 'STOPPING';
    const server = this.server;
    if (server) {
      // No new connections; streams end now (a browser resumes them elsewhere or after the restart).
      const closed = new Promise<void>((res) => server.close(() => res()));
      this.stopping.abort();
      server.closeIdleConnections();
      const graceMs = reason === 'parent-gone' ? 0 : this.env.SHUTDOWN_GRACE_MS;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((res) => (timer = setTimeout(res, graceMs)));
      await Promise.race([closed, late]);
      clearTimeout(timer);
      // Whatever is still in flight after the grace is cut off.
      server.closeAllConnections();
      await closed;
    }
    // Last: no request is left to call the master.
    this.master?.close();
    this.state = 'STOPPED';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://web.invalid');
    const client = new AbortController();
    // 'close' on the response: the answer is done or the client went away; either way its master calls end.
    res.once('close', () => client.abort());
    const signal = AbortSignal.any([client.signal, this.stopping.signal]);
    try {
      if (url.pathname === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
        this.health(res);
      } else if (url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`)) {
        await this.api(req, res, url, signal);
      } else if (req.method === 'GET' || req.method === 'HEAD') {
        await serveConsole(this.consoleDir, req, res, url.pathname);
      } else {
        throw new ApiError('method_not_allowed', `${req.method} is not served outside ${API_PREFIX}`);
      }
    } catch (err) {
      this.fail(res, err, req);
    } finally {
      // Method, path and status only: never headers (cookies, tokens) nor the query (a search may be private).
      const log = { method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) };
      if (res.statusCode >= 500) this.log.warn(log, 'request failed');
      else this.log.debug(log, 'request');
    }
  }

  /** 200 while serving; 503 once stopping, so that a probe on a connection still open sees the drain. */
  private health(res: ServerResponse): void {
    const serving = this.state === 'RUNNING';
    sendJson(res, serving ? 200 : 503, { status: serving ? 'SERVING' : 'NOT_SERVING' });
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> {
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    let match;
    try {
      match = matchRoute(req.method ?? 'GET', path);
    } catch {
      throw new ApiError('invalid_argument', 'the path is not valid percent-encoding', 'path');
    }
    if (match.kind === 'none') throw new ApiError('not_found', `no such API path: ${path}`);
    if (match.kind === 'wrong-method') {
      res.setHeader('allow', match.allowed.join(', '));
      throw new ApiError('method_not_allowed', `${req.method} is not allowed here; use ${match.allowed.join(' or ')}`);
    }
    const master = this.master!;
    const caller = match.route.auth ? this.authenticate(req) : undefined;
    const ctx: RequestContext = {
      req,
      res,
      url,
      params: match.params,
      signal,
      master,
      sessions: this.sessions,
      secure: this.secure,
      log: this.log,
      caller,
      call: (extra = {}) => {
        if (!caller) throw new Error('a route without auth called the master as a user');
        return asUser(caller.token, signal, extra);
      },
      detachedCall: (extra = {}) => {
        if (!caller) throw new Error('a route without auth called the master as a user');
        return asUser(caller.token, this.stopping.signal, extra);
      },
    };
    try {
      await match.route.handler(ctx);
    } catch (err) {
      // A token the master no longer takes (revoked, expired, user disabled) ends the session made with it.
      if (caller?.session && apiErrorOfClientError(err)?.code === 'unauthenticated') this.sessions.delete(caller.session.id);
      throw err;
    }
  }

  /**
   * Who the request acts as: a bearer token, else the session cookie. A
   * cookie is sent by the browser on its own, so a state-changing request
   * made with one must also prove it comes from the console (X-CSRF-Token).
   */
  private authenticate(req: IncomingMessage): Caller {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m) throw new ApiError('unauthenticated', 'the Authorization header must be "Bearer <token>"');
      return { token: m[1]!, session: undefined };
    }
    const id = sessionCookie(req.headers.cookie);
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (!session) {
      throw new ApiError('unauthenticated', 'sign in first: send Authorization: Bearer <token>, or POST /api/v1/session from the console');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const given = req.headers['x-csrf-token'];
      if (!csrfMatches(session.csrfToken, Array.isArray(given) ? given[0] : given)) {
        throw new ApiError('csrf', 'this request needs the X-CSRF-Token header the session was given');
      }
    }
    return { token: session.token, session };
  }

  private fail(res: ServerResponse, err: unknown, req: IncomingMessage): void {
    const apiError = err instanceof ApiError ? err : apiErrorOfClientError(err);
    if (apiError?.code === 'internal' || apiError?.code === 'unavailable') this.log.warn({ err, method: req.method }, 'master call failed');
    if (!apiError) this.log.error({ err, method: req.method }, 'request failed');
    if (res.headersSent) {
      // The status is out: a cut-off body is all that is left to say it failed.
      res.destroy();
      return;
    }
    sendError(res, apiError ?? new ApiError('internal', 'the web server failed to answer'));
  }
}

function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}
