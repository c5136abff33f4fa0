import { join } from 'node:path';
import { devCertificates, tempDir, type DevCertificates, type TempDir } from '@cloudai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTask, startFakeMaster, type FakeMaster } from './testing/fake-master.js';
import { runCli } from './testing/run-cli.js';

let dir: TempDir;
let certs: DevCertificates;
let master: FakeMaster;

beforeAll(async () => {
  dir = await tempDir('cloudai-cli-tls-');
  certs = await devCertificates(join(dir.path, 'certs'));
  master = await startFakeMaster({ ...certs.pem('master'), clientCa: certs.ca });
  master.setHandlers({ getTask: async (req) => ({ task: makeTask({ taskId: req.taskId }) }) });
});

afterAll(async () => {
  await master?.close();
  await dir?.remove();
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
