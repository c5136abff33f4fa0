import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { envBoolean } from './env-boolean.js';

/** A file a variable names, read when the env is parsed so a bad path stops the app at start. */
export interface PemFile {
  path: string;
  pem: Buffer;
}

const pemFile = z.string().transform((path, ctx): PemFile => {
  try {
    return { path, pem: readFileSync(path) };
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `cannot read the file: ${err instanceof Error ? err.message : String(err)}` });
    return z.NEVER;
  }
});

/**
 * Transport security, the same variables in every app that serves or calls
 * gRPC. One certificate per process serves both roles: its server presents
 * it, and it is the client certificate its calls present when a server
 * requires one (mTLS between services).
 */
export const TlsEnv = z.object({
  /** this process's certificate (PEM, leaf first): the server serves TLS with it */
  TLS_CERT_FILE: pemFile.optional(),
  /** the private key of TLS_CERT_FILE (PEM) */
  TLS_KEY_FILE: pemFile.optional(),
  /** when set, the server requires client certificates signed by this CA (mTLS) */
  TLS_CLIENT_CA_FILE: pemFile.optional(),
  /** when set, calls to other services use TLS and verify the server against this CA */
  TLS_CA_FILE: pemFile.optional(),
  /** serve plaintext on a non-loopback LISTEN_ADDR anyway (otherwise refused) */
  CLOUDAI_ALLOW_INSECURE: envBoolean.default(false),
});
export type TlsEnv = z.output<typeof TlsEnv>;

/** Adds the TLS variables to an app's env schema, with the rules that tie them together. */
export function withTlsEnv<Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>) {
  return schema.extend(TlsEnv.shape).superRefine((env, ctx) => checkTlsEnv(env as TlsEnv, ctx));
}

function checkTlsEnv(env: TlsEnv, ctx: z.RefinementCtx): void {
  const problem = (variable: keyof TlsEnv, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
  const { TLS_CERT_FILE: cert, TLS_KEY_FILE: key } = env;
  if (cert && !key) problem('TLS_KEY_FILE', 'must be set when TLS_CERT_FILE is (a certificate needs its key)');
  if (key && !cert) problem('TLS_CERT_FILE', 'must be set when TLS_KEY_FILE is (a key needs its certificate)');
  if (env.TLS_CLIENT_CA_FILE && !cert) {
    problem('TLS_CLIENT_CA_FILE', 'needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates are only asked for over TLS');
  }
  const certificate = cert && parsed('TLS_CERT_FILE', cert, (pem) => new X509Certificate(pem), 'a PEM certificate');
  const privateKey = key && parsed('TLS_KEY_FILE', key, (pem) => createPrivateKey(pem), 'a PEM private key');
  if (env.TLS_CLIENT_CA_FILE) parsed('TLS_CLIENT_CA_FILE', env.TLS_CLIENT_CA_FILE, (pem) => new X509Certificate(pem), 'a PEM certificate');
  if (env.TLS_CA_FILE) parsed('TLS_CA_FILE', env.TLS_CA_FILE, (pem) => new X509Certificate(pem), 'a PEM certificate');
  if (certificate && privateKey && !certificate.checkPrivateKey(privateKey)) {
    problem('TLS_KEY_FILE', `${key.path} is not the key of the certificate in TLS_CERT_FILE (${cert.path})`);
  }

  function parsed<T>(variable: keyof TlsEnv, file: PemFile, parse: (pem: Buffer) => T, what: string): T | undefined {
    try {
      return parse(file.pem);
    } catch {
      problem(variable, `${file.path} does not hold ${what}`);
      return undefined;
    }
  }
}

/** What startGrpcServer's `tls` takes: undefined serves plaintext. */
export function serverTlsOf(env: TlsEnv): { cert: Buffer; key: Buffer; clientCa?: Buffer } | undefined {
  if (!env.TLS_CERT_FILE || !env.TLS_KEY_FILE) return undefined;
  return { cert: env.TLS_CERT_FILE.pem, key: env.TLS_KEY_FILE.pem, clientCa: env.TLS_CLIENT_CA_FILE?.pem };
}

/** What connect's `tls` takes: undefined dials plaintext; the process's certificate goes along when it has one. */
export function clientTlsOf(env: TlsEnv): { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!env.TLS_CA_FILE) return undefined;
  return { ca: env.TLS_CA_FILE.pem, cert: env.TLS_CERT_FILE?.pem, key: env.TLS_KEY_FILE?.pem };
}
