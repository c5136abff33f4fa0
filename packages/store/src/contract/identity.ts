import { beforeEach, describe, expect, it } from 'vitest';
import type { TokenRecord, UserRecord } from '../records.js';
import type { Store } from '../store.js';
import type { ContractSubject } from './subject.js';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

export function makeUser(userName: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return { userName, role: 'user', disabled: false, createdAt: at(0), ...overrides };
}

export function makeToken(tokenId: string, userName: string, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokenId,
    userName,
    secretSha256: 'ab'.repeat(32),
    description: '',
    createdAt: at(0),
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

/** USERS and TOKENS: who may call, and with which tokens. */
export function describeIdentityContract(subject: ContractSubject): void {
  let store: Store;
  beforeEach(() => {
    store = subject.store;
  });

  describe('users', () => {
    it('creates a user once; a second create of the name returns the stored one', async () => {
      const admin = makeUser('admin', { role: 'admin' });
      expect(await store.createUser(admin)).toEqual({ user: admin, created: true });
      const again = await store.createUser(makeUser('admin', { createdAt: at(5) }));
      expect(again).toEqual({ user: admin, created: false });
      expect(await store.getUser('admin')).toEqual(admin);
      expect(await store.getUser('nobody')).toBeNull();
    });

    it('of many concurrent creates of one name, exactly one is created', async () => {
      const second = await subject.second();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? store : second).createUser(makeUser('bob', { createdAt: at(i) }))),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)!.user;
      for (const r of results) expect(r.user).toEqual(winner);
    });

    it('lists users by name, counts them, and disables and enables one', async () => {
      for (const name of ['carol', 'alice', 'bob']) await store.createUser(makeUser(name));
      expect((await store.listUsers()).map((u) => u.userName)).toEqual(['alice', 'bob', 'carol']);
      expect(await store.countUsers()).toBe(3);
      expect(await store.setUserDisabled('bob', true)).toEqual(makeUser('bob', { disabled: true }));
      expect((await store.getUser('bob'))?.disabled).toBe(true);
      expect((await store.setUserDisabled('bob', false))?.disabled).toBe(false);
      expect(await store.setUserDisabled('nobody', true)).toBeNull();
    });
  });

  describe('tokens', () => {
    it('round-trips a token, with and without an expiry', async () => {
      const forever = makeToken('t1', 'alice', { description: 'laptop' });
      const expiring = makeToken('t2', 'alice', { createdAt: at(1), expiresAt: at(86_400_000) });
      await store.createToken(forever);
      await store.createToken(expiring);
      expect(await store.getToken('t1')).toEqual(forever);
      expect(await store.getToken('t2')).toEqual(expiring);
      expect(await store.getToken('t3')).toBeNull();
    });

    it('refuses a duplicate token id, keeping the first', async () => {
      await store.createToken(makeToken('t1', 'alice'));
      await expect(store.createToken(makeToken('t1', 'mallory'))).rejects.toThrow();
      expect((await store.getToken('t1'))?.userName).toBe('alice');
    });

    it("lists one user's tokens or everyone's, oldest first", async () => {
      await store.createToken(makeToken('t2', 'bob', { createdAt: at(2) }));
      await store.createToken(makeToken('t1', 'alice', { createdAt: at(1) }));
      await store.createToken(makeToken('t3', 'alice', { createdAt: at(3) }));
      expect((await store.listTokens('alice')).map((t) => t.tokenId)).toEqual(['t1', 't3']);
      expect((await store.listTokens()).map((t) => t.tokenId)).toEqual(['t1', 't2', 't3']);
      expect(await store.listTokens('nobody')).toEqual([]);
    });

    it('revokes a token once: a second revocation keeps the first time', async () => {
      await store.createToken(makeToken('t1', 'alice'));
      expect(await store.revokeToken('t1', at(10))).toMatchObject({ tokenId: 't1', revokedAt: at(10) });
      expect(await store.revokeToken('t1', at(20))).toMatchObject({ revokedAt: at(10) });
      expect(await store.revokeToken('nope', at(10))).toBeNull();
    });

    it('records when a token was last used', async () => {
      await store.createToken(makeToken('t1', 'alice'));
      await store.touchToken('t1', at(7));
      expect((await store.getToken('t1'))?.lastUsedAt).toEqual(at(7));
      await store.touchToken('unknown', at(7));
    });
  });
}
