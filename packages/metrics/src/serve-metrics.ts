import { serverTlsOf, type MetricsEnv, type TlsEnv } from '@cloudai/config';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { startMetricsServer, type RunningMetricsServer } from './metrics-server.js';

/**
 * Starts the app's metrics endpoint as its env says: at METRICS_ADDR (none
 * when off), over HTTPS when the app has a certificate, requiring the token
 * in METRICS_TOKEN_FILE when one is set.
 */
export async function serveMetrics(
  env: MetricsEnv & TlsEnv,
  registry: Registry,
  logger: Logger,
): Promise<RunningMetricsServer | undefined> {
  if (env.METRICS_ADDR === null) return undefined;
  const tls = serverTlsOf(env);
  return startMetricsServer({
    listenAddr: env.METRICS_ADDR,
    registry,
    logger,
    // The app's certificate; client certificates are not asked for: scrapers prove themselves with the token.
    tls: tls && { cert: tls.cert, key: tls.key },
    token: env.METRICS_TOKEN_FILE?.token,
    allowInsecure: env.CLOUDAI_ALLOW_INSECURE,
  });
}
