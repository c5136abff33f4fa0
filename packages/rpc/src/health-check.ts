import { ChannelCredentials } from '@grpc/grpc-js';
import { createChannel, createClient } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';

/** grpc.health.v1.HealthCheckResponse.ServingStatus, as the health service answers it. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

const STATUS_NAMES: readonly ServingStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** What a probe of a process's own gRPC server needs: where it listens and, under TLS, its certificate. */
export interface HealthCheckOptions {
  /** the server's LISTEN_ADDR; a wildcard host (0.0.0.0, ::) is dialed on loopback */
  listenAddr: string;
  /** the server's certificate and key: dial TLS, presenting them in case the server requires client certificates */
  tls?: { cert: Buffer; key: Buffer };
  deadlineMs?: number;
}

/** The address a probe inside the server's own container or host dials for `listenAddr` (a gRPC or an HTTP one). */
export function healthCheckTarget(listenAddr: string): string {
  const i = listenAddr.lastIndexOf(':');
  if (i < 0) throw new Error(`LISTEN_ADDR must be host:port, got ${JSON.stringify(listenAddr)}`);
  const host = listenAddr.slice(0, i);
  const wildcard = host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
  return `${wildcard ? '127.0.0.1' : host}:${listenAddr.slice(i + 1)}`;
}

/**
 * Calls grpc.health.v1.Health/Check (the server as a whole) and returns the
 * status; a server that cannot be reached or answers with an error rejects.
 */
export async function checkHealth(options: HealthCheckOptions): Promise<ServingStatus> {
  // The probe dials the process it runs beside, on its own port, and sends
  // nothing secret, so the server's certificate is not verified: a
  // deployment's certificate need not name loopback, nor its CA be at hand.
  // Its own certificate still goes along, because under mTLS the server
  // refuses a handshake without one, health checks included.
  const credentials = options.tls
    ? ChannelCredentials.createSsl(null, options.tls.key, options.tls.cert, { rejectUnauthorized: false })
    : ChannelCredentials.createInsecure();
  const channel = createChannel(healthCheckTarget(options.listenAddr), credentials);
  try {
    const health = createClient(HealthDefinition, channel);
    const deadline = AbortSignal.timeout(options.deadlineMs ?? 3_000);
    const { status } = await health.check({ service: '' }, { signal: deadline });
    return STATUS_NAMES[status] ?? 'UNKNOWN';
  } finally {
    channel.close();
  }
}
