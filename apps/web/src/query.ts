import { parseSince, TASK_STATUSES, type TaskStatus } from '@cloudai/domain';
import { z } from 'zod';
import { badRequest } from './api-error.js';

/**
 * The URL's query parameters parsed with `schema`; the first problem is a 400
 * naming its parameter. Parameters the schema does not know are refused, so a
 * misspelt filter is not silently ignored.
 */
export function parseQuery<S extends z.ZodObject>(url: URL, schema: S): z.output<S> {
  const raw: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key in raw) throw badRequest(key, `${key} is given more than once`);
    raw[key] = value;
  }
  return parseWith(schema.strict(), raw) as z.output<S>;
}

/** `input` parsed with `schema`, or a 400 naming the field of the first problem. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.code === 'unrecognized_keys' ? issue.keys[0] : issue?.path.map(String).join('.');
  const message = issue?.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys[0]}` : issue?.message ?? 'invalid request';
  throw badRequest(field || 'body', message);
}

/** A whole number in a query string. */
export const queryInt = (name: string, min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    const n = /^-?\d{1,16}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (Number.isNaN(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}` });
      return z.NEVER;
    }
    return n;
  });

export const queryBoolean = (name: string) =>
  z.string().transform((raw, ctx) => {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', ''].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got ${JSON.stringify(raw)}` });
    return z.NEVER;
  });

/** `since`: a duration back from now (30s, 10m, 2h, 1d) or an ISO time, as the CLI's --since. */
export const querySince = z.string().transform((raw, ctx) => {
  const time = parseSince(raw, new Date());
  if (time) return time;
  ctx.addIssue({
    code: 'custom',
    message: `since must be a duration like 30s, 10m, 2h, 1d or an ISO time like 2025-01-01T12:00:00Z, got ${JSON.stringify(raw)}`,
  });
  return z.NEVER;
});

/** `status=RUNNING,FAILED`: any case, comma-separated. */
export const queryStatuses = z.string().transform((raw, ctx) => {
  const out = new Set<TaskStatus>();
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const name = part.toUpperCase();
    if (!(TASK_STATUSES as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', message: `status must be one of ${TASK_STATUSES.join(', ')}, got ${JSON.stringify(part)}` });
      return z.NEVER;
    }
    out.add(name as TaskStatus);
  }
  return [...out];
});

export const streamName = z.enum(['stdout', 'stderr'], { error: 'stream must be stdout or stderr' });
