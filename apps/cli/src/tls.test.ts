import { join } from 'node:path';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@cloudai/proto';
import { readConfigFile, writeConfigFile } from './testing/config-home.js';
import { bearer, makeTask, startFakeMaster, TEST_TOKEN, type FakeMaster } from './testing/fake-master.js';
import { runCli } from './testing/run-cli.js';

let dir: TempDir;
let certs: DevCertificates;
let master: FakeMaster;
/** TLS without client certificates: a user's token is what identifies them */
let tlsOnly: FakeMaster;

beforeAll(async () => {
  dir = await tempDir('cloudai-cli-tls-');
  certs = await devCertificates(join(dir.path, 'certs'));
  master = await startFakeMaster({ ...certs.pem('master'), clientCa: certs.ca });
  master.setHandlers({ getTask: async (req) => ({ task: makeTask({ taskId: req.taskId }) }) });
  tlsOnly = await startFakeMaster(certs.pem('master'));
  tlsOnly.setHandlers({
    getTask: async (req) => ({ task: makeTask({ taskId: req.taskId }) }),
    whoAmI: async () => ({ user: { userName: 'alice', role: Role.ROLE_USER, disabled: false }, tokenId: '0123456789abcdef' }),
  });
});

afterAll(async () => {
  await master?.close();
  await tlsOnly?.close();
  await dir?.remove();
});

describe("a profile's CA", () => {
  it('login --tls-ca reaches a TLS master, saves the CA with the profile, and later commands use it', async () => {
    const home = join(dir.path, 'home');
    const login = await runCli(['login', '--master', tlsOnly.address, '--tls-ca', certs.caFile, '--token-stdin'], {
      CLOUDAI_TOKEN: undefined,
      XDG_CONFIG_HOME: home,
    }, { input: TEST_TOKEN });
    expect(login).toMatchObject({ code: 0, stderr: '' });
    expect(readConfigFile(home)).toMatchObject({ profiles: { default: { master: tlsOnly.address, tlsCa: certs.caFile } } });
    const status = await runCli(['status', 't-1'], { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home });
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(tlsOnly.callsTo('getTask').at(-1)?.authorization).toBe(bearer());
  });

  it('a plaintext master is never sent the token when the profile says TLS', async () => {
    const home = join(dir.path, 'home-plain');
    const plain = await startFakeMaster();
    try {
      writeConfigFile(home, { profiles: { default: { master: plain.address, token: TEST_TOKEN, tlsCa: certs.caFile } } });
      const res = await runCli(['status', 't-1'], { CLOUDAI_TOKEN: undefined, XDG_CONFIG_HOME: home });
      expect(res.code).toBe(3);
      expect(plain.calls).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});

describe('--tls-ca, --tls-cert, --tls-key', () => {
  it('reach a master that requires mTLS, from flags or from CLOUDAI_TLS_*', async () => {
    const { certFile, keyFile } = certs.files('cli');
    const flags = await runCli(['--master', master.address, '--tls-ca', certs.caFile, '--tls-cert', certFile, '--tls-key', keyFile, 'status', 't-1']);
    expect(flags).toMatchObject({ code: 0, stderr: '' });
    const env = await runCli(['status', 't-1'], {
      CLOUDAI_MASTER: master.address,
      CLOUDAI_TLS_CA: certs.caFile,
      CLOUDAI_TLS_CERT: certFile,
      CLOUDAI_TLS_KEY: keyFile,
    });
    expect(env).toMatchObject({ code: 0, stderr: '' });
    expect(master.callsTo('getTask')).toHaveLength(2);
  });

  it('a certificate needs its key, and both need a CA', async () => {
    const { certFile, keyFile } = certs.files('cli');
    const noKey = await runCli(['--master', master.address, '--tls-ca', certs.caFile, '--tls-cert', certFile, 'status', 't-1']);
    expect(noKey).toMatchObject({
      code: 2,
      stderr: 'error: --tls-cert and --tls-key (CLOUDAI_TLS_CERT, CLOUDAI_TLS_KEY) go together: give both or neither\n',
    });
    const noCa = await runCli(['--master', master.address, '--tls-cert', certFile, '--tls-key', keyFile, 'status', 't-1']);
    expect(noCa).toMatchObject({
      code: 2,
      stderr: 'error: --tls-cert needs --tls-ca (CLOUDAI_TLS_CA): a client certificate is only sent over TLS\n',
    });
  });

  it('an unreadable file is a usage error naming the option and the path', async () => {
    const missing = join(dir.path, 'missing.crt');
    const res = await runCli(['--master', master.address, '--tls-ca', missing, 'status', 't-1']);
    expect(res).toMatchObject({
      code: 2,
      stderr: `error: cannot read --tls-ca "${missing}": ENOENT: no such file or directory, open '${missing}'\n`,
    });
  });

  it('an empty CLOUDAI_TLS_CA means unset: plaintext', async () => {
    const res = await runCli(['status', 't-1'], { CLOUDAI_MASTER: master.address, CLOUDAI_TLS_CA: '' });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^error: the master at \S+ closed the connection while it was being set up: it may serve TLS/);
  });
});
