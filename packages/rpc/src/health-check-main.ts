// The container health check of the cloudai images (HEALTHCHECK in
// docker/*.Dockerfile): asks the app's own gRPC server, at LISTEN_ADDR, over
// TLS when the app serves TLS (TLS_CERT_FILE and TLS_KEY_FILE), whether it is
// SERVING. Exits 0 if so and 1 otherwise, printing one line that Docker keeps
// in the container's health log. It reads the variables the app reads, so
// the image's HEALTHCHECK needs no settings of its own.
import { readFileSync } from 'node:fs';
import { checkHealth } from './health-check.js';

const { LISTEN_ADDR, TLS_CERT_FILE, TLS_KEY_FILE } = process.env;
try {
  if (!LISTEN_ADDR) throw new Error('LISTEN_ADDR is not set');
  const tls =
    TLS_CERT_FILE && TLS_KEY_FILE ? { cert: readFileSync(TLS_CERT_FILE), key: readFileSync(TLS_KEY_FILE) } : undefined;
  const status = await checkHealth({ listenAddr: LISTEN_ADDR, tls });
  process.stdout.write(`${status}\n`);
  process.exitCode = status === 'SERVING' ? 0 : 1;
} catch (err) {
  process.stdout.write(`unhealthy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
