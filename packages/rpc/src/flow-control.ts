import http2 from 'node:http2';

/**
 * HTTP/2 receive window for gRPC servers and clients. Node's default is
 * 64 KiB per stream and per connection, so a peer sending a 1 MiB message
 * (log batches, output uploads, downloads) waits for ~16 window updates, one
 * event-loop turn of the receiver each: on a busy host that, not CPU or
 * disk, bounds throughput. 8 MiB lets a whole message be in flight.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

type CreateServer = (...args: unknown[]) => http2.Http2Server;

let installed = false;
let widenedServers = 0;

/**
 * grpc-js (1.14) has a client option for its receive window but none for
 * servers (grpc-node PR #3058 adds one), and it creates its HTTP/2 server
 * itself: `http2.createServer` in plaintext, `http2.createSecureServer` under
 * TLS. So both are wrapped, for the whole process, to advertise the wider
 * stream window and open the connection window. Idempotent; affects only
 * servers created after it runs. Servers that set their own
 * `initialWindowSize` keep it.
 */
export function widenServerFlowControl(): void {
  if (installed) return;
  installed = true;
  const target = http2 as unknown as Record<'createServer' | 'createSecureServer', CreateServer>;
  target.createServer = widening(target.createServer);
  target.createSecureServer = widening(target.createSecureServer);
}

/**
 * How many HTTP/2 servers the widening has created in this process. A grpc-js
 * listen that does not raise it bypassed the wrapped functions (a grpc-js
 * upgrade that creates servers another way), so its windows are Node's 64 KiB.
 */
export function widenedServerCount(): number {
  return widenedServers;
}

function widening(original: CreateServer): CreateServer {
  return function createWidenedServer(...args) {
    // Node also accepts (onRequest) alone: options are optional.
    const options = typeof args[0] === 'object' && args[0] !== null ? (args.shift() as http2.ServerOptions) : {};
    const widened: http2.ServerOptions = {
      ...options,
      settings: { initialWindowSize: FLOW_CONTROL_WINDOW_BYTES, ...options.settings },
    };
    const server = original(widened, ...args);
    widenedServers++;
    // The per-connection window is not a setting: it grows by WINDOW_UPDATE.
    server.on('session', (session: http2.ServerHttp2Session) => {
      const widen = () => {
        if (!session.destroyed) session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
      };
      if (session.connecting) session.once('connect', widen);
      else widen();
    });
    return server;
  };
}
