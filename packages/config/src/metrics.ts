import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { hostPort } from './host-port.js';

/** "host:port" (port 0 picks a free one) or "off"; off parses to null. */
const metricsAddr = z
  .string()
  .refine((s) => s === 'off' || hostPort.safeParse(s).success, {
    message: 'expected host:port (e.g. 127.0.0.1:9451) or off',
  })
  .transform((s) => (s === 'off' ? null : s));

/** A bearer token read from a file when the env is parsed; surrounding whitespace (a trailing newline) is not part of it. */
const tokenFile = z.string().transform((path, ctx) => {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `cannot read the file: ${err instanceof Error ? err.message : String(err)}` });
    return z.NEVER;
  }
  // Never quote the file: it holds a secret.
  if (token === '') ctx.addIssue({ code: 'custom', message: `${path} is empty` });
  else if (/\s/.test(token)) ctx.addIssue({ code: 'custom', message: `${path} holds more than one word; a token has no spaces` });
  return { path, token };
});

/**
 * The Prometheus endpoint's variables, spread into an app's env schema.
 * `defaultAddr` is where the app serves metrics unless told otherwise
 * (null: off unless METRICS_ADDR is set).
 */
export function metricsEnv(defaultAddr: string | null) {
  return {
    /** where GET /metrics is served, or "off" */
    METRICS_ADDR: metricsAddr.default(defaultAddr),
    /** a file holding the bearer token every scrape must send; required beyond loopback */
    METRICS_TOKEN_FILE: tokenFile.optional(),
  };
}

/** The parsed variables. */
export interface MetricsEnv {
  /** null: no metrics endpoint */
  METRICS_ADDR: string | null;
  METRICS_TOKEN_FILE?: { path: string; token: string } | undefined;
}
