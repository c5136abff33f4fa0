import { BlockList, isIP } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (in any spelling, bracketed or not) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Secure by default: plaintext gRPC is refused beyond loopback, where anyone
 * on the network could read the calls or make them, unless the operator
 * opted in with CLOUDAI_ALLOW_INSECURE.
 */
export function assertPlaintextAllowed(listenAddr: string, host: string, allowInsecure: boolean): void {
  if (allowInsecure || isLoopbackHost(host)) return;
  throw new Error(
    `refusing to serve plaintext gRPC on ${listenAddr}, which is not a loopback address: ` +
      'set TLS_CERT_FILE and TLS_KEY_FILE to serve TLS (scripts/dev-certs.sh makes a development CA and certificates), ' +
      'listen on 127.0.0.1 instead, or set CLOUDAI_ALLOW_INSECURE=true to serve plaintext anyway',
  );
}
