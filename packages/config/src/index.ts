import { z } from 'zod';

export { envBoolean } from './env-boolean.js';
export { dialAddress, dialAddressList, hostPort } from './host-port.js';
export * from './metrics.js';
export * from './tls.js';
export { readPackageVersion } from './package-version.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses `env` (default process.env) with a zod object schema. On failure
 * throws one ConfigError naming every bad variable and the rule it broke.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" for every variable, as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

/** A non-negative number from a string, e.g. WORKER_CPU=2.5. */
export const envNumber = (opts: { min?: number; max?: number; int?: boolean } = {}) => {
  let n = z.coerce.number().refine(Number.isFinite, { message: 'expected a number' });
  if (opts.int) n = n.refine(Number.isInteger, { message: 'expected a whole number' });
  if (opts.min !== undefined) {
    const min = opts.min;
    n = n.refine((v) => v >= min, { message: `must be >= ${min}` });
  }
  if (opts.max !== undefined) {
    const max = opts.max;
    n = n.refine((v) => v <= max, { message: `must be <= ${max}` });
  }
  return n;
};

export const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
