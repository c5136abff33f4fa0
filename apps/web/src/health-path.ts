/**
 * The container's health check (docker/web.Dockerfile) asks here: outside
 * /api/v1, since it is no part of the API and needs no token, and answered
 * before the console, which would answer index.html for it.
 */
export const HEALTH_PATH = '/healthz';
