import { randomBytes, timingSafeEqual } from 'node:crypto';

/** A signed-in browser: the API token it pasted, kept in this process's memory only. */
export interface Session {
  readonly id: string;
  readonly token: string;
  readonly user: string;
  readonly role: string;
  /** sent back in X-CSRF-Token with every state-changing request */
  readonly csrfToken: string;
  lastUsedMs: number;
}

export interface SessionLimits {
  idleMs: number;
  maxSessions: number;
}

/** 256 random bits, URL-safe. */
function secret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Browser sessions, bounded: one unused for `idleMs` is forgotten, and past
 * `maxSessions` the least recently used goes first. A restart forgets them
 * all; the browser signs in again.
 */
export class Sessions {
  // A Map iterates in insertion order; every use re-inserts, so the first entry is the least recently used.
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  create(token: string, user: string, role: string): Session {
    this.sweep();
    while (this.byId.size >= this.limits.maxSessions) this.byId.delete(this.byId.keys().next().value!);
    const session: Session = { id: secret(), token, user, role, csrfToken: secret(), lastUsedMs: this.now() };
    this.byId.set(session.id, session);
    return session;
  }

  /** The live session with this id, marked as used; undefined when unknown or idle too long. */
  get(id: string): Session | undefined {
    const session = this.byId.get(id);
    if (!session) return undefined;
    this.byId.delete(id);
    if (this.now() - session.lastUsedMs > this.limits.idleMs) return undefined;
    session.lastUsedMs = this.now();
    this.byId.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Drops the sessions idle too long, oldest first; they sit at the front. */
  private sweep(): void {
    const cutoff = this.now() - this.limits.idleMs;
    for (const [id, session] of this.byId) {
      if (session.lastUsedMs >= cutoff) break;
      this.byId.delete(id);
    }
  }
}

/** Compares a CSRF token in constant time. */
export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
