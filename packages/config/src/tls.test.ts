import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { clientTlsOf, parseEnv, serverTlsOf, withTlsEnv } from './index.js';

const Env = withTlsEnv(z.object({ LISTEN_ADDR: z.string().default('127.0.0.1:0') }));

let dir: TempDir;
let certs: DevCertificates;
const master = () => certs.files('master');

beforeAll(async () => {
  dir = await tempDir('cloudai-config-tls-');
  certs = await devCertificates(join(dir.path, 'certs'));
});
afterAll(() => dir.remove());

/** The ConfigError's message for `env`, or "parsed". */
function problems(env: Record<string, string>): string {
  try {
    parseEnv(Env, env);
    return 'parsed';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('the TLS variables', () => {
  it('are all optional: plaintext, and plaintext beyond loopback refused', () => {
    const env = parseEnv(Env, {});
    expect(serverTlsOf(env)).toBeUndefined();
    expect(clientTlsOf(env)).toBeUndefined();
    expect(env.CLOUDAI_ALLOW_INSECURE).toBe(false);
    expect(env.LISTEN_ADDR).toBe('127.0.0.1:0');
  });

  it('read each file at parse: the server serves the certificate, the client verifies with the CA and presents the same certificate', () => {
    const env = parseEnv(Env, {
      TLS_CERT_FILE: master().certFile,
      TLS_KEY_FILE: master().keyFile,
      TLS_CLIENT_CA_FILE: certs.caFile,
      TLS_CA_FILE: certs.caFile,
      CLOUDAI_ALLOW_INSECURE: 'true',
    });
    const { cert, key } = certs.pem('master');
    expect(serverTlsOf(env)).toEqual({ cert, key, clientCa: certs.ca });
    expect(clientTlsOf(env)).toEqual({ ca: certs.ca, cert, key });
    expect(env.CLOUDAI_ALLOW_INSECURE).toBe(true);
  });

  it('a CA alone makes a TLS client without a certificate, and no TLS server', () => {
    const env = parseEnv(Env, { TLS_CA_FILE: certs.caFile });
    expect(serverTlsOf(env)).toBeUndefined();
    expect(clientTlsOf(env)).toEqual({ ca: certs.ca, cert: undefined, key: undefined });
  });

  it('a certificate alone serves TLS, and the client still dials plaintext (it has no CA to verify with)', () => {
    const env = parseEnv(Env, { TLS_CERT_FILE: master().certFile, TLS_KEY_FILE: master().keyFile });
    expect(serverTlsOf(env)).toEqual({ ...certs.pem('master'), clientCa: undefined });
    expect(clientTlsOf(env)).toBeUndefined();
  });

  it('a certificate needs its key and a key its certificate', () => {
    expect(problems({ TLS_CERT_FILE: master().certFile })).toBe(
      'invalid configuration: TLS_KEY_FILE: must be set when TLS_CERT_FILE is (a certificate needs its key)',
    );
    expect(problems({ TLS_KEY_FILE: master().keyFile })).toBe(
      'invalid configuration: TLS_CERT_FILE: must be set when TLS_KEY_FILE is (a key needs its certificate)',
    );
  });

  it('client certificates are only required of clients of a TLS server', () => {
    expect(problems({ TLS_CLIENT_CA_FILE: certs.caFile })).toBe(
      'invalid configuration: TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates are only asked for over TLS',
    );
  });

  it('a file that cannot be read is named with its variable and the reason', () => {
    const missing = join(dir.path, 'nope.crt');
    expect(problems({ TLS_CA_FILE: missing })).toBe(
      `invalid configuration: TLS_CA_FILE: cannot read the file: ENOENT: no such file or directory, open '${missing}'`,
    );
    expect(problems({ TLS_CERT_FILE: dir.path, TLS_KEY_FILE: master().keyFile })).toMatch(
      /^invalid configuration: TLS_CERT_FILE: cannot read the file: EISDIR/,
    );
  });

  it('a file that does not hold what its variable needs is named', async () => {
    const garbage = join(dir.path, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    expect(problems({ TLS_CERT_FILE: master().keyFile, TLS_KEY_FILE: master().keyFile })).toBe(
      `invalid configuration: TLS_CERT_FILE: ${master().keyFile} does not hold a PEM certificate`,
    );
    expect(problems({ TLS_CERT_FILE: master().certFile, TLS_KEY_FILE: garbage })).toBe(
      `invalid configuration: TLS_KEY_FILE: ${garbage} does not hold a PEM private key`,
    );
    expect(problems({ TLS_CA_FILE: garbage })).toBe(`invalid configuration: TLS_CA_FILE: ${garbage} does not hold a PEM certificate`);
    expect(problems({ TLS_CERT_FILE: master().certFile, TLS_KEY_FILE: master().keyFile, TLS_CLIENT_CA_FILE: garbage })).toBe(
      `invalid configuration: TLS_CLIENT_CA_FILE: ${garbage} does not hold a PEM certificate`,
    );
  });

  it("a key that is not the certificate's is refused at start, not at the first handshake", () => {
    const other = certs.files('storage').keyFile;
    expect(problems({ TLS_CERT_FILE: master().certFile, TLS_KEY_FILE: other })).toBe(
      `invalid configuration: TLS_KEY_FILE: ${other} is not the key of the certificate in TLS_CERT_FILE (${master().certFile})`,
    );
  });

  it("are checked together with the app's own variables, and an empty one counts as unset", () => {
    const Strict = withTlsEnv(z.object({ NAME: z.string() }));
    expect(() => parseEnv(Strict, { TLS_CERT_FILE: '', CLOUDAI_ALLOW_INSECURE: 'maybe' })).toThrow(
      'invalid configuration: NAME: Invalid input: expected string, received undefined; CLOUDAI_ALLOW_INSECURE: expected true or false, got "maybe"',
    );
  });
});
