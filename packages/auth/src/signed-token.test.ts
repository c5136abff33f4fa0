import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueMasterAssertion, verifyMasterAssertion, workerAudience } from './master-assertion.js';
import { issueToken, MAX_SIGNED_TOKEN_LENGTH, signClaims, type VerifyFailure } from './signed-token.js';
import { SigningKey, VerifyingKey } from './signing-key.js';
import { issueUploadGrant, UPLOAD_GRANT, type UploadGrantFields, verifyUploadGrant } from './upload-grant.js';
import { issueWorkerCredential, verifyWorkerCredential, WORKER_CREDENTIAL } from './worker-credential.js';

const key = SigningKey.generate();
const verifier = VerifyingKey.fromPem(key.publicKeyPem());
const issuedAt = new Date('2026-03-01T12:00:00.000Z');
const iat = issuedAt.getTime() / 1000;
const at = (secondsLater: number) => new Date(issuedAt.getTime() + secondsLater * 1000);
const grant: UploadGrantFields = {
  taskId: '01964a1e-7c1a-7d2b-9a3c-5d6e7f809a1b',
  assignmentId: '01964a1e-7c1a-7d2b-9a3c-5d6e7f809a1c',
  userId: 'alice',
  taskName: 'exp-001',
  submittedAt: Date.parse('2026-03-01T11:59:00.123Z'),
};

/** Replaces one character of `text` at `index` with another from the base64url alphabet. */
function flip(text: string, index: number): string {
  const c = text[index] === 'A' ? 'B' : 'A';
  return `${text.slice(0, index)}${c}${text.slice(index + 1)}`;
}

describe('issue and verify', () => {
  it('round-trips a worker credential, with and without expiry', () => {
    const token = issueWorkerCredential(key, 'worker-1', { now: issuedAt });
    expect(token).toMatch(/^caw_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    expect(verifyWorkerCredential(token, verifier, { now: at(10 * 365 * 86_400) })).toEqual({
      ok: true,
      claims: { typ: 'worker', sub: 'worker-1', iat },
    });
    const expiring = issueWorkerCredential(key, 'worker-1', { now: issuedAt, ttlSeconds: 3600 });
    expect(verifyWorkerCredential(expiring, verifier, { now: at(60) })).toEqual({
      ok: true,
      claims: { typ: 'worker', sub: 'worker-1', iat, exp: iat + 3600 },
    });
  });

  it('round-trips a master assertion for storage and for one worker, valid 10 minutes by default', () => {
    const forStorage = issueMasterAssertion(key, 'storage', { now: issuedAt });
    expect(forStorage.startsWith('cam_')).toBe(true);
    expect(verifyMasterAssertion(forStorage, verifier, 'storage', { now: at(1) })).toEqual({
      ok: true,
      claims: { typ: 'master', aud: 'storage', iat, exp: iat + 600 },
    });
    const forWorker = issueMasterAssertion(key, workerAudience('w-2'), { now: issuedAt });
    const verified = verifyMasterAssertion(forWorker, verifier, 'worker:w-2', { now: at(1) });
    expect(verified.ok && verified.claims.aud).toBe('worker:w-2');
  });

  it('round-trips an upload grant with every field', () => {
    const token = issueUploadGrant(key, grant, { now: issuedAt, ttlSeconds: 900 });
    expect(token.startsWith('cag_')).toBe(true);
    expect(verifyUploadGrant(token, verifier, { now: at(899) })).toEqual({
      ok: true,
      claims: { typ: 'grant', ...grant, iat, exp: iat + 900 },
    });
  });

  it('refuses to issue claims its verifier would refuse', () => {
    expect(() => issueWorkerCredential(key, 'no spaces allowed')).toThrow(/cannot issue a worker credential: sub/);
    expect(() => issueUploadGrant(key, { ...grant, taskName: 'x'.repeat(201) }, { ttlSeconds: 60 })).toThrow(
      /taskName/,
    );
    expect(() => issueUploadGrant(key, { ...grant, userId: '../etc' }, { ttlSeconds: 60 })).toThrow(/userId/);
    expect(() => issueMasterAssertion(key, 'worker:' as 'storage')).toThrow(/aud/);
    expect(() => issueWorkerCredential(key, 'w', { ttlSeconds: 0 })).toThrow(/ttlSeconds/);
  });
});

describe('verify refuses, each failure with its own reason', () => {
  const other = SigningKey.generate();
  const worker = issueWorkerCredential(key, 'worker-1', { now: issuedAt, ttlSeconds: 600 });
  const [signed = '', signature = ''] = worker.split('.');

  // Every case below must be refused for its own reason, and only for it.
  const cases: [string, () => { ok: boolean; reason?: VerifyFailure; message?: string }, VerifyFailure][] = [
    ['tampered claims', () => verifyWorkerCredential(`${flip(signed, 10)}.${signature}`, verifier, { now: at(1) }), 'bad signature'],
    ['tampered signature', () => verifyWorkerCredential(`${signed}.${flip(signature, 5)}`, verifier, { now: at(1) }), 'bad signature'],
    ['another key', () => verifyWorkerCredential(worker, other.verifyingKey, { now: at(1) }), 'bad signature'],
    ['expired', () => verifyWorkerCredential(worker, verifier, { now: at(600 + 30) }), 'expired'],
    ['issued in the future', () => verifyWorkerCredential(worker, verifier, { now: at(-31) }), 'not yet valid'],
    ['a worker credential where a grant is expected', () => verifyUploadGrant(worker, verifier, { now: at(1) }), 'wrong kind'],
    [
      'an assertion for another worker',
      () => verifyMasterAssertion(issueMasterAssertion(key, 'worker:a', { now: issuedAt }), verifier, 'worker:b', { now: at(1) }),
      'wrong audience',
    ],
    ['truncated', () => verifyWorkerCredential(worker.slice(0, -10), verifier, { now: at(1) }), 'malformed'],
  ];

  it.each(cases)('%s', (_what, verify, reason) => {
    const verified = verify();
    expect(verified).toMatchObject({ ok: false, reason });
    expect(verified.message).toMatch(new RegExp(`^${reason}: `));
    expect(verified.message).not.toContain(signature.slice(0, 12));
  });

  it('and the same token, untouched, is valid: each case differs from it only in what it names', () => {
    expect(verifyWorkerCredential(worker, verifier, { now: at(1) }).ok).toBe(true);
    expect(verifyWorkerCredential(worker, verifier, { now: at(600 + 29) }).ok).toBe(true);
    expect(verifyWorkerCredential(worker, verifier, { now: at(-30) }).ok).toBe(true);
    expect(new Set(cases.map(([, , reason]) => reason)).size).toBe(6);
  });

  it('without leeway, a token expires at its exp second and is not valid a second before iat', () => {
    const strict = { leewaySeconds: 0 };
    expect(verifyWorkerCredential(worker, verifier, { ...strict, now: at(599) }).ok).toBe(true);
    expect(verifyWorkerCredential(worker, verifier, { ...strict, now: at(600) })).toMatchObject({ reason: 'expired' });
    expect(verifyWorkerCredential(worker, verifier, { ...strict, now: at(0) }).ok).toBe(true);
    expect(verifyWorkerCredential(worker, verifier, { ...strict, now: at(-1) })).toMatchObject({ reason: 'not yet valid' });
  });

  it('throws rather than judge time by an invalid clock', () => {
    expect(() => verifyWorkerCredential(worker, verifier, { now: new Date(Number.NaN) })).toThrow(/valid date/);
    expect(() => verifyWorkerCredential(worker, verifier, { now: at(1), leewaySeconds: Number.NaN })).toThrow(
      /leewaySeconds >= 0/,
    );
  });

  it('covers the prefix with the signature: relabelling a credential as an assertion breaks it', () => {
    const relabelled = `cam_${worker.slice(4)}`;
    expect(verifyMasterAssertion(relabelled, verifier, 'storage', { now: at(1) })).toMatchObject({ reason: 'bad signature' });
  });

  it('refuses a signed token whose typ is not its prefix\'s', () => {
    const claims = Buffer.from(JSON.stringify({ typ: 'master', aud: 'storage', iat, exp: iat + 60 }));
    const forged = signClaims(key, 'caw', claims);
    expect(verifyWorkerCredential(forged, verifier, { now: at(1) })).toMatchObject({ reason: 'wrong kind' });
    expect(verifyMasterAssertion(forged, verifier, 'storage', { now: at(1) })).toMatchObject({ reason: 'wrong kind' });
  });

  it.each([
    ['not JSON', Buffer.from('{"typ":"worker",'), 'not JSON'],
    ['JSON but not an object', Buffer.from('"worker"'), 'claims: '],
    ['no iat', Buffer.from(JSON.stringify({ typ: 'worker', sub: 'w' })), 'iat: '],
    ['a fractional exp', Buffer.from(JSON.stringify({ typ: 'worker', sub: 'w', iat, exp: iat + 0.5 })), 'exp: '],
    ['an exp past year 9999', Buffer.from(JSON.stringify({ typ: 'worker', sub: 'w', iat, exp: 1e15 })), 'exp: '],
    ['a worker id that is not one', Buffer.from(JSON.stringify({ typ: 'worker', sub: 'a/b', iat })), 'sub: '],
    ['a numeric sub', Buffer.from(JSON.stringify({ typ: 'worker', sub: 7, iat })), 'sub: '],
  ])('refuses correctly signed claims with %s as malformed', (_what, claims, says) => {
    const verified = verifyWorkerCredential(signClaims(key, 'caw', claims), verifier, { now: at(1) });
    expect(verified).toMatchObject({ ok: false, reason: 'malformed' });
    expect(!verified.ok && verified.message).toContain(says);
  });

  it('refuses a grant without its task fields, or with an exp missing, as malformed', () => {
    const { taskName: _dropped, ...partial } = grant;
    const noTaskName = signClaims(key, 'cag', Buffer.from(JSON.stringify({ typ: 'grant', ...partial, iat, exp: iat + 60 })));
    expect(verifyUploadGrant(noTaskName, verifier, { now: at(1) })).toMatchObject({ reason: 'malformed' });
    const noExp = signClaims(key, 'cag', Buffer.from(JSON.stringify({ typ: 'grant', ...grant, iat })));
    expect(verifyUploadGrant(noExp, verifier, { now: at(1) })).toMatchObject({ reason: 'malformed' });
  });

  it.each([
    ['empty', ''],
    ['no signature', signed],
    ['two dots', `${signed}.${signature}.${signature}`],
    ['no prefix', worker.slice(4)],
    ['an upper-case prefix', `CAW_${worker.slice(4)}`],
    ['padding', `${worker}=`],
    ['a non-canonical signature', `${signed}.${signature.slice(0, -1)}${signature.endsWith('B') ? 'C' : 'B'}`],
    ['a short signature', `${signed}.${signature.slice(4)}`],
    ['spaces', ` ${worker}`],
  ])('refuses a token with %s as malformed', (_what, text) => {
    expect(verifyWorkerCredential(text, verifier, { now: at(1) })).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses a huge token by its length alone', () => {
    const huge = `caw_${'A'.repeat(1_000_000)}.${signature}`;
    const verified = verifyWorkerCredential(huge, verifier, { now: at(1) });
    expect(verified).toMatchObject({ ok: false, reason: 'malformed' });
    expect(!verified.ok && verified.message).toContain(`at most ${MAX_SIGNED_TOKEN_LENGTH} characters, got 1000091`);
  });

  it('keeps every token issued with realistic claims well under the size bound', () => {
    const longest = issueUploadGrant(
      key,
      { ...grant, taskName: 'n'.repeat(200), userId: 'u'.repeat(128), taskId: 't'.repeat(128), assignmentId: 'a'.repeat(128) },
      { ttlSeconds: 86_400 },
    );
    expect(longest.length).toBeLessThan(MAX_SIGNED_TOKEN_LENGTH / 2);
  });

  it('issues through the generic pair as through the named functions', () => {
    const generic = issueToken(key, WORKER_CREDENTIAL, { sub: 'worker-1' }, { now: issuedAt, ttlSeconds: 600 });
    expect(generic).toBe(worker);
    expect(UPLOAD_GRANT.prefix).toBe('cag');
  });
});

describe('SigningKey and VerifyingKey', () => {
  it('a key loaded from its PEM signs what the original verifies, and the other way round', () => {
    const loaded = SigningKey.fromPem(key.privateKeyPem());
    const data = Buffer.from('claims');
    expect(key.verifyingKey.verify(data, loaded.sign(data))).toBe(true);
    expect(VerifyingKey.fromPem(loaded.publicKeyPem()).verify(data, key.sign(data))).toBe(true);
    expect(verifier.verify(Buffer.from('claimz'), key.sign(data))).toBe(false);
  });

  it('refuses keys that are not Ed25519, and a private key offered as the public one', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(() => SigningKey.fromPem(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }))).toThrow(
      /expected an Ed25519 private key, got ec private key/,
    );
    expect(() => VerifyingKey.fromPem(ec.publicKey.export({ type: 'spki', format: 'pem' }))).toThrow(
      /expected an Ed25519 public key/,
    );
    expect(() => VerifyingKey.fromPem(key.privateKeyPem())).toThrow(/got a private key/);
    expect(() => SigningKey.fromPem('not a key')).toThrow();
  });

  it('never serializes its private half', () => {
    expect(JSON.stringify({ key })).toBe('{"key":"SigningKey(ed25519)"}');
    expect(JSON.stringify({ verifier })).not.toContain('PRIVATE');
  });
});
