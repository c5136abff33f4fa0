import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@cloudai/logger';
import type { CallOptions } from 'nice-grpc';
import type { MasterClients, DeadlineOption } from './master.js';
import type { Session, Sessions } from './sessions.js';

/** Who a request acts as. */
export interface Caller {
  token: string;
  /** the browser session it came with; undefined for a bearer token */
  session: Session | undefined;
}

/** What every handler gets. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** the route's path parameters, decoded */
  params: Record<string, string>;
  /** aborted when the client goes away or the server stops: cancels the master calls made for it */
  signal: AbortSignal;
  master: MasterClients;
  sessions: Sessions;
  /** whether this server speaks TLS (cookies are Secure then) */
  secure: boolean;
  log: Logger;
  /** the authenticated caller; routes without auth have none */
  caller: Caller | undefined;
  /** options for a master call as the caller, cancelled with the request */
  call(extra?: CallOptions & DeadlineOption): CallOptions & DeadlineOption;
  /**
   * options for a master call as the caller whose result outlives the
   * request (a shared cache's fill), cancelled only when the server stops
   */
  detachedCall(extra?: CallOptions & DeadlineOption): CallOptions & DeadlineOption;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** under /api/v1, as the OpenAPI document writes it: `/tasks/{id}` */
  path: string;
  /** whether the request must carry a token (bearer or session cookie) */
  auth: boolean;
  handler: Handler;
}
