import { createServer, type Server } from 'nice-grpc';
import { HealthDefinition, HealthServiceImpl, HealthState } from 'nice-grpc-server-health';
import type { Logger } from 'pino';
import { widenedServerCount, widenServerFlowControl } from './flow-control.js';
import { assertPlaintextAllowed } from './plaintext-policy.js';
import { errorMappingMiddleware } from './server-errors.js';
import { serverCredentials, type ServerTls } from './tls.js';

export type ServerState = 'STARTING' | 'SERVING' | 'DRAINING' | 'STOPPED';

export interface GrpcServerOptions {
  /** "host:port"; port 0 picks a free port */
  listenAddr: string;
  logger: Logger;
  /** adds the app's services to the server */
  register: (server: Server) => void;
  /** max message size in bytes (default 8 MiB; chunks are ≤ 1 MiB) */
  maxMessageBytes?: number;
  /** serve TLS instead of plaintext; with `clientCa`, clients must present a certificate it signed */
  tls?: ServerTls;
  /** serve plaintext on a non-loopback address (CLOUDAI_ALLOW_INSECURE); refused otherwise */
  allowInsecure?: boolean;
}

export interface RunningGrpcServer {
  /** the bound "host:port", with the real port when 0 was asked */
  readonly address: string;
  readonly port: number;
  state(): ServerState;
  /** Health SERVING or NOT_SERVING, e.g. NOT_SERVING while an app drains work before shutdown. */
  setServing(serving: boolean): void;
  /**
   * Marks health NOT_SERVING, stops accepting calls, waits for in-flight
   * calls up to `deadlineMs`, then cancels the rest.
   */
  shutdown(deadlineMs?: number): Promise<void>;
}

/** Starts a nice-grpc server with health and error mapping on `listenAddr`. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { host } = splitHostPort(options.listenAddr);
  if (!options.tls) assertPlaintextAllowed(options.listenAddr, host, options.allowInsecure ?? false);
  const maxBytes = options.maxMessageBytes ?? 8 * 1024 * 1024;
  widenServerFlowControl();
  const server = createServer({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  }).use(errorMappingMiddleware(options.logger));
  const health = HealthState();
  health.setStatus('unhealthy');
  server.add(HealthDefinition, HealthServiceImpl(health));
  options.register(server);

  const serversBefore = widenedServerCount();
  const port = await server.listen(options.listenAddr, serverCredentials(options.tls));
  if (widenedServerCount() === serversBefore) {
    server.forceShutdown();
    throw new Error(
      'grpc-js did not create its HTTP/2 server through http2.createServer or createSecureServer, so the ' +
        'flow-control widening (packages/rpc/src/flow-control.ts) would silently not apply: check whether the ' +
        'installed @grpc/grpc-js has a server option for its window and use that instead',
    );
  }
  const address = `${host}:${port}`;
  let state: ServerState = 'SERVING';
  health.setStatus('healthy');

  return {
    address,
    port,
    state: () => state,
    setServing: (serving) => health.setStatus(serving ? 'healthy' : 'unhealthy'),
    async shutdown(deadlineMs = 10_000) {
      if (state === 'STOPPED' || state === 'DRAINING') return;
      state = 'DRAINING';
      health.setStatus('unhealthy');
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadlineMs);
      });
      const outcome = await Promise.race([server.shutdown().then(() => 'drained' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        options.logger.warn({ deadlineMs }, 'in-flight calls did not finish in time; cancelling them');
        server.forceShutdown();
      }
      state = 'STOPPED';
    },
  };
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i <= 0) throw new Error(`expected host:port, got ${JSON.stringify(addr)}`);
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}
