import type { Route } from './context.js';
import { EVENT_ROUTES } from './events-api.js';
import { FILE_ROUTES } from './files-api.js';
import { LOG_ROUTES } from './logs-api.js';
import { OPENAPI_ROUTES } from './openapi.js';
import { SESSION_ROUTES } from './session-api.js';
import { TASK_ROUTES } from './tasks-api.js';

/** Every route of the HTTP API, under /api/v1; the OpenAPI document describes exactly these. */
export const ROUTES: readonly Route[] = [
  ...SESSION_ROUTES,
  ...TASK_ROUTES,
  ...LOG_ROUTES,
  ...FILE_ROUTES,
  ...EVENT_ROUTES,
  ...OPENAPI_ROUTES,
];

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

/** `{path}` as the last segment takes the rest of the path (a file's path has slashes); other `{x}` one segment. */
function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return name === 'path' ? '(.+)' : '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

const COMPILED = ROUTES.map(compile);

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; allowed: string[] }
  | { kind: 'none' };

/** The route for a path under /api/v1, with its parameters decoded. */
export function matchRoute(method: string, path: string): RouteMatch {
  const allowed: string[] = [];
  for (const { route, pattern, names } of COMPILED) {
    const m = pattern.exec(path);
    if (!m) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
    return { kind: 'found', route, params };
  }
  return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'none' };
}
