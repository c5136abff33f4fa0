import { Role } from '@cloudai/proto';
import { roleName } from '@cloudai/rpc/client';
import { z } from 'zod';
import { ApiError } from './api-error.js';
import type { RequestContext, Route } from './context.js';
import { readJsonBody, sendJson, API_HEADERS } from './http-io.js';
import { asUser } from './master.js';
import { parseWith } from './query.js';

export const SESSION_COOKIE = 'cloudai_session';

const SignIn = z.strictObject({
  token: z.string({ error: 'token is required' }).min(1, { error: 'token is required' }).max(1000, { error: 'token is too long' }),
});

function cookie(ctx: RequestContext, value: string, maxAgeSeconds?: number): string {
  const parts = [`${SESSION_COOKIE}=${value}`, 'HttpOnly', 'SameSite=Strict', 'Path=/'];
  if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
  if (ctx.secure) parts.push('Secure');
  return parts.join('; ');
}

/** Signs a browser in: the token is checked with the master (WhoAmI) before a session is made for it. */
async function signIn(ctx: RequestContext): Promise<void> {
  const { token } = parseWith(SignIn, await readJsonBody(ctx.req));
  const me = await ctx.master.identity.whoAmI({}, asUser(token, ctx.signal));
  const session = ctx.sessions.create(token, me.user?.userName ?? '', roleName(me.user?.role ?? Role.ROLE_USER));
  ctx.log.info({ user: session.user }, 'signed in');
  sendJson(ctx.res, 200, { user: session.user, role: session.role, csrfToken: session.csrfToken }, { 'set-cookie': cookie(ctx, session.id) });
}

/** Who the request acts as; a bearer caller has no CSRF token (it needs none). */
async function whoAmI(ctx: RequestContext): Promise<void> {
  const session = ctx.caller!.session;
  if (session) {
    sendJson(ctx.res, 200, { user: session.user, role: session.role, csrfToken: session.csrfToken });
    return;
  }
  const me = await ctx.master.identity.whoAmI({}, ctx.call());
  sendJson(ctx.res, 200, { user: me.user?.userName ?? '', role: roleName(me.user?.role ?? Role.ROLE_USER), csrfToken: null });
}

async function signOut(ctx: RequestContext): Promise<void> {
  const session = ctx.caller!.session;
  if (!session) throw new ApiError('invalid_argument', 'only a browser session can be signed out; a bearer token is revoked with `cloudai tokens revoke`');
  ctx.sessions.delete(session.id);
  ctx.res.writeHead(204, { ...API_HEADERS, 'set-cookie': cookie(ctx, '', 0) });
  ctx.res.end();
}

export const SESSION_ROUTES: Route[] = [
  { method: 'POST', path: '/session', auth: false, handler: signIn },
  { method: 'GET', path: '/session', auth: true, handler: whoAmI },
  { method: 'DELETE', path: '/session', auth: true, handler: signOut },
];
