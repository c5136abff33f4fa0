import http2 from 'node:http2';

/**
 * HTTP/2 receive window for gRPC servers and clients. Node's default is
 * 64 KiB per stream and per connection, so a peer sending a 1 MiB message
 * (log batches, output uploads, downloads) waits for ~16 window updates, one
 * event-loop turn of the receiver each: on a busy host that, not CPU or
 * disk, bounds throughput. 8 MiB lets a whole message be in flight.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

let installed = false;

/**
 * grpc-js has a client option for its receive window but none for servers,
 * and it creates its HTTP/2 server itself; so the server's settings are
 * widened where it calls `http2.createServer`. Idempotent; affects only
 * servers created after it runs, in this process.
 */
export function widenServerFlowControl(): void {
  if (installed) return;
  installed = true;
  const original = http2.createServer;
  const patched = (options?: http2.ServerOptions, ...rest: unknown[]) => {
    const widened: http2.ServerOptions = {
      ...options,
      settings: { initialWindowSize: FLOW_CONTROL_WINDOW_BYTES, ...options?.settings },
    };
    const server = (original as (...a: unknown[]) => http2.Http2Server)(widened, ...rest);
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
  (http2 as { createServer: unknown }).createServer = patched;
}
