import {
  createServer,
  type CallContext,
  type Server,
  type ServerMiddlewareCall,
  type TsProtoServiceDefinition,
} from 'nice-grpc';
import { HealthDefinition, HealthServiceImpl, HealthState } from 'nice-grpc-server-health';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { widenedServerCount, widenServerFlowControl } from './flow-control.js';
import { assertPlaintextAllowed } from './plaintext-policy.js';
import { registerWithReflection } from './reflection.js';
import { errorMappingMiddleware } from './server-errors.js';
import { grpcServerMetrics } from './server-metrics.js';
import { serverCredentials, type ServerTls } from './tls.js';
import { decodingTolerantly, refuseUndecodable } from './undecodable-requests.js';

export type ServerState = 'STARTING' | 'SERVING' | 'DRAINING' | 'STOPPED';

export interface GrpcServerOptions<Ext extends object = object> {
  /** "host:port"; port 0 picks a free port */
  listenAddr: string;
  logger: Logger;
  /**
   * Runs before every call but health checks, with the method's path
   * ("/cloudai.v1.TaskService/GetTask") and the call's context: throws to
   * refuse the call (UNAUTHENTICATED, PERMISSION_DENIED), or returns what the
   * handlers find added to their context (who the caller is).
   */
  authenticate?: (method: string, context: CallContext) => Promise<Ext>;
  /** adds the app's services to the server */
  register: (server: Server<Ext>) => void;
  /** max message size in bytes (default 8 MiB; chunks are ≤ 1 MiB) */
  maxMessageBytes?: number;
  /** serve TLS instead of plaintext; with `clientCa`, clients must present a certificate it signed */
  tls?: ServerTls;
  /** serve plaintext on a non-loopback address (CLOUDAI_ALLOW_INSECURE); refused otherwise */
  allowInsecure?: boolean;
  /** count every call into this registry (cloudai_grpc_server_handled_total, …_handling_seconds) */
  metrics?: Registry;
  /**
   * Also serve gRPC server reflection (grpc.reflection.v1 and v1alpha)
   * describing health and the services `register` adds, for grpcurl and
   * grpcui. Its calls pass `authenticate` like any other, which is therefore
   * required with it.
   */
  reflection?: boolean;
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

/** The middleware of a server that counts nothing. */
async function* passThrough<Request, Response>(call: ServerMiddlewareCall<Request, Response>, context: CallContext) {
  return yield* call.next(call.request, context);
}

/** Health checks are answered for anyone: orchestrators probe without credentials. */
const HEALTH_PATH = '/grpc.health.v1.Health/';

/** Starts a nice-grpc server with health, error mapping and the app's authentication on `listenAddr`. */
export async function startGrpcServer<Ext extends object = object>(
  options: GrpcServerOptions<Ext>,
): Promise<RunningGrpcServer> {
  const { host } = splitHostPort(options.listenAddr);
  if (!options.tls) assertPlaintextAllowed(options.listenAddr, host, options.allowInsecure ?? false);
  const maxBytes = options.maxMessageBytes ?? 8 * 1024 * 1024;
  widenServerFlowControl();
  const authenticate = options.authenticate ?? (async () => ({}) as Ext);
  const server = createServer({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  })
    // Outermost, so it counts the status the client gets: after error mapping, refusals included.
    .use(options.metrics ? grpcServerMetrics(options.metrics) : passThrough)
    .use(errorMappingMiddleware(options.logger))
    .use(async function* authentication<Request, Response>(
      call: ServerMiddlewareCall<Request, Response, Ext>,
      context: CallContext,
    ) {
      const added = call.method.path.startsWith(HEALTH_PATH) ? ({} as Ext) : await authenticate(call.method.path, context);
      return yield* call.next(call.request, { ...context, ...added });
    })
    .use(refuseUndecodable);
  // Every service, the health service too, decodes its requests tolerantly.
  const add = server.add.bind(server);
  server.add = ((definition, implementation) =>
    add(isTsProtoDefinition(definition) ? decodingTolerantly(definition) : definition, implementation)) as typeof server.add;
  const health = HealthState();
  health.setStatus('unhealthy');
  (server as unknown as Server).add(HealthDefinition, HealthServiceImpl(health));
  if (options.reflection) {
    if (!options.authenticate) throw new Error('reflection needs authenticate: it would describe the API to any caller');
    registerWithReflection(server, options.register);
  } else {
    options.register(server);
  }

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

function isTsProtoDefinition(definition: object): definition is TsProtoServiceDefinition {
  return 'fullName' in definition && 'methods' in definition;
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i <= 0) throw new Error(`expected host:port, got ${JSON.stringify(addr)}`);
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}
