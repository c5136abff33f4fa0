import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';

/** PEM contents (not paths), as read from files or made by a test. */
export type Pem = Buffer | string;

/** What a server presents; with `clientCa`, clients must present a certificate it signed (mTLS). */
export interface ServerTls {
  cert: Pem;
  key: Pem;
  clientCa?: Pem;
}

/** How a client verifies the server, and the certificate it presents when the server asks for one. */
export interface ClientTls {
  /** the CA that signed the server's certificate */
  ca: Pem;
  /** this process's certificate and key: both or neither */
  cert?: Pem;
  key?: Pem;
}

const buffer = (pem: Pem): Buffer => (typeof pem === 'string' ? Buffer.from(pem) : pem);

export function serverCredentials(tls: ServerTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const clientCa = tls.clientCa === undefined ? null : buffer(tls.clientCa);
  return ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: buffer(tls.cert), private_key: buffer(tls.key) }],
    clientCa !== null,
  );
}

export function channelCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (!tls) return ChannelCredentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error('a client certificate needs its key, and a key its certificate: give both or neither');
  }
  silenceIpServerNameWarning();
  return ChannelCredentials.createSsl(
    buffer(tls.ca),
    tls.key === undefined ? null : buffer(tls.key),
    tls.cert === undefined ? null : buffer(tls.cert),
  );
}

let silenced = false;

/**
 * grpc-js sends the target's host as the TLS server name even when it is an
 * IP address (grpc-node#1919), and Node then warns once per process that RFC
 * 6066 forbids that (DEP0123). The certificate is still checked against the
 * IP correctly, so the warning says nothing an operator can act on, and it
 * would be the CLI's only stderr line when dialing 127.0.0.1 over TLS. Only
 * that one warning is dropped; every other one still prints.
 */
function silenceIpServerNameWarning(): void {
  if (silenced) return;
  silenced = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = function emitWarningExceptIpServerName(...args: unknown[]) {
    const [warning, second, third] = args;
    const code = typeof second === 'object' && second !== null ? (second as { code?: unknown }).code : third;
    if (code === 'DEP0123') return;
    if (warning instanceof Error && (warning as Error & { code?: unknown }).code === 'DEP0123') return;
    emitWarning(...args);
  } as typeof process.emitWarning;
}
