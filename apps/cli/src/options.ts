import { hostPort } from '@cloudai/config';
import {
  durationMs,
  hasControlChars,
  idempotencyKeySchema,
  MAX_TIMEOUT_SECONDS,
  parseSince,
  RESOURCE_LIMITS,
  TASK_STATUSES,
  TaskSpecSchema,
  taskNameSchema,
  userNameSchema,
  type TaskStatus,
} from '@cloudai/domain';
import { TASK_SORTS } from '@cloudai/rpc/client';
import { z } from 'zod';
import { UsageError } from './errors.js';

// Command-line values arrive as strings; each schema here turns one into what
// the request needs or fails with a message that names the option.

const DECIMAL = /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

interface NumberRule {
  /** smallest allowed value */
  min: number;
  /** whether `min` itself is allowed */
  minInclusive: boolean;
  max: number;
  integer?: boolean;
  /** extra floor, phrased for the user, e.g. "at least 0.004 (4 MiB)" */
  floor?: { value: number; text: string };
}

function numberOption(flag: string, rule: NumberRule) {
  const kind = rule.integer ? 'a whole number' : 'a number';
  const bound = rule.minInclusive ? `>= ${rule.min}` : `> ${rule.min}`;
  return z.string().transform((raw, ctx) => {
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    const got = JSON.stringify(raw);
    const trimmed = raw.trim();
    if (!DECIMAL.test(trimmed)) return fail(`${flag} must be ${kind} ${bound}, got ${got}`);
    const n = Number(trimmed);
    if (!Number.isFinite(n) || (rule.minInclusive ? n < rule.min : n <= rule.min)) {
      return fail(`${flag} must be ${kind} ${bound}, got ${got}`);
    }
    if (rule.integer && !Number.isInteger(n)) return fail(`${flag} must be ${kind} ${bound}, got ${got}`);
    if (rule.floor && n < rule.floor.value) return fail(`${flag} must be ${rule.floor.text}, got ${got}`);
    if (n > rule.max) return fail(`${flag} must be <= ${rule.max}, got ${got}`);
    return n;
  });
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The master's task_name rule; on the command line an empty name is a mistake, not "pick one". */
const taskName = (flag: string) => z.string().min(1, { error: `${flag} must not be empty` }).pipe(taskNameSchema(flag));

const envPair = z.string().transform((raw, ctx) => {
  const eq = raw.indexOf('=');
  const key = eq < 0 ? raw : raw.slice(0, eq);
  if (eq < 0 || !ENV_KEY.test(key)) {
    ctx.addIssue({
      code: 'custom',
      message: `--env must be KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit), got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  }
  const value = raw.slice(eq + 1);
  if (value.includes('\u0000')) {
    ctx.addIssue({ code: 'custom', message: `--env value for ${key} must not contain NUL` });
    return z.NEVER;
  }
  return [key, value] as const;
});

/** An id typed by the user: one printable token. */
export const idArgument = (name: string) =>
  z
    .string()
    .min(1, { error: `${name} must not be empty` })
    .max(200, { error: `${name} must be at most 200 characters` })
    .regex(/^[\x21-\x7e]+$/, { error: `${name} must be printable characters without spaces` });

const image = z.string().transform((raw, ctx) => {
  const parsed = TaskSpecSchema.shape.image.safeParse(raw);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: `<image> ${JSON.stringify(raw)} is not valid: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
    return z.NEVER;
  }
  return parsed.data;
});

/** The options `task` and `dispatch` share, as commander hands them over. */
export const SubmitOptions = z.object({
  image,
  command: z.array(
    z.string().refine((s) => !s.includes('\u0000'), { error: 'command arguments must not contain NUL' }),
  ),
  name: taskName('--name').optional(),
  cpu: numberOption('--cpu', {
    min: 0,
    minInclusive: false,
    max: RESOURCE_LIMITS.cpu,
    floor: { value: 0.001, text: 'at least 0.001 (one millicore)' },
  }).optional(),
  mem: numberOption('--mem', {
    min: 0,
    minInclusive: false,
    max: RESOURCE_LIMITS.memoryGb,
    floor: { value: 4 / 1024, text: 'at least 0.004 GB (4 MiB)' },
  }).optional(),
  storage: numberOption('--storage', { min: 0, minInclusive: true, max: RESOURCE_LIMITS.storageGb }).optional(),
  gpu: numberOption('--gpu', { min: 0, minInclusive: true, max: RESOURCE_LIMITS.gpu, integer: true }).optional(),
  env: z.array(envPair).default([]),
  timeout: numberOption('--timeout', { min: 0, minInclusive: true, max: MAX_TIMEOUT_SECONDS, integer: true }).optional(),
  network: z.boolean().default(false),
  idempotencyKey: idempotencyKeySchema('--idempotency-key').optional(),
  json: z.boolean().default(false),
  follow: z.boolean().default(false),
}).refine((o) => !(o.json && o.follow), {
  // The task's own stdout would be mixed into the JSON a script parses.
  error: '--json cannot be combined with --follow',
});
export type SubmitOptions = z.output<typeof SubmitOptions>;

const statusList = z.array(z.string()).transform((values, ctx) => {
  const out = new Set<TaskStatus>();
  for (const part of values.flatMap((v) => v.split(','))) {
    const name = part.trim().toUpperCase();
    if (!(TASK_STATUSES as readonly string[]).includes(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `--status must be one of ${TASK_STATUSES.join(', ')}, got ${JSON.stringify(part.trim())}`,
      });
      return z.NEVER;
    }
    out.add(name as TaskStatus);
  }
  return [...out];
});

export const ListOptions = z.object({
  status: statusList.default([]),
  name: taskName('--name').optional(),
  limit: numberOption('--limit', { min: 1, minInclusive: true, max: 1000, integer: true }).optional(),
  sort: z.enum(TASK_SORTS, { error: `--sort must be one of ${TASK_SORTS.join(', ')}` }).optional(),
  allUsers: z.boolean().default(false),
  json: z.boolean().default(false),
});
export type ListOptions = z.output<typeof ListOptions>;

/** `cloudai download --window`: the HTTP/2 receive window in MiB (see commands/download.ts). */
export const downloadWindowOption = numberOption('--window', { min: 1, minInclusive: true, max: 64, integer: true });

export const WaitOptions = z.object({
  taskId: idArgument('<task-id>'),
  timeout: numberOption('--timeout', { min: 0, minInclusive: false, max: MAX_TIMEOUT_SECONDS }).optional(),
  json: z.boolean().default(false),
});

/** `--since`: a duration back from `now` (30s, 10m, 2h, 1d, 1h30m) or an ISO time. */
export const sinceOption = (now: Date) =>
  z.string().transform((raw, ctx) => {
    const time = parseSince(raw, now);
    if (time) return time;
    ctx.addIssue({
      code: 'custom',
      message: `--since must be a duration like 30s, 10m, 2h, 1d or an ISO time like 2025-01-01T12:00:00Z, got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  });

/** The most a token's lifetime can be: the request carries it as uint32 seconds. */
const MAX_EXPIRES_SECONDS = 0xffff_ffff;

/** `--expires`: a token's lifetime (90m, 12h, 30d, 1d12h) in whole seconds. */
const expiresOption = z.string().transform((raw, ctx) => {
  const ms = durationMs(raw.trim());
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (ms === undefined) return fail(`--expires must be a duration like 90m, 12h or 30d, got ${JSON.stringify(raw)}`);
  if (ms < 1000) return fail(`--expires must be at least 1s, got ${JSON.stringify(raw)}`);
  if (ms / 1000 > MAX_EXPIRES_SECONDS) {
    return fail(`--expires must be at most ${Math.floor(MAX_EXPIRES_SECONDS / 86_400)}d, got ${JSON.stringify(raw)}`);
  }
  return ms / 1000;
});

export const MonitorOptions = (now: Date) =>
  z.object({
    taskId: idArgument('<task-id>'),
    // commander's --no-follow sets follow=false; absent means true
    follow: z.boolean().default(true),
    tail: numberOption('--tail', { min: 1, minInclusive: true, max: 1_000_000, integer: true }).optional(),
    since: sinceOption(now).optional(),
    stdout: z.boolean().default(false),
    stderr: z.boolean().default(false),
    timestamps: z.boolean().default(false),
    // commander's --no-events sets events=false
    events: z.boolean().default(true),
  });
export type MonitorOptions = z.output<ReturnType<typeof MonitorOptions>>;

export const EventsOptions = (now: Date) =>
  z.object({
    follow: z.boolean().default(false),
    task: idArgument('--task').optional(),
    worker: idArgument('--worker').optional(),
    since: sinceOption(now).optional(),
    limit: numberOption('--limit', { min: 1, minInclusive: true, max: 1000, integer: true }).optional(),
    json: z.boolean().default(false),
  });
export type EventsOptions = z.output<ReturnType<typeof EventsOptions>>;

export const MasterAddress = (source: string) =>
  z.string().superRefine((s, ctx) => {
    if (!hostPort.safeParse(s).success || s.endsWith(':0')) {
      ctx.addIssue({ code: 'custom', message: `${source} must be host:port, e.g. 127.0.0.1:50051, got ${JSON.stringify(s)}` });
    }
  });

/** A user name as `users add` takes it: the master's rule, which tests/e2e holds the CLI to. */
export const UserName = userNameSchema('<name>');

const MAX_DESCRIPTION_LENGTH = 200;

const description = z
  .string()
  .max(MAX_DESCRIPTION_LENGTH, { error: `--description must be at most ${MAX_DESCRIPTION_LENGTH} characters` })
  .refine((s) => !hasControlChars(s), { error: '--description must not contain control characters' });

export const UsersAddOptions = z.object({
  name: UserName,
  admin: z.boolean().default(false),
  json: z.boolean().default(false),
});

export const TokensCreateOptions = z.object({
  user: userNameSchema('--user').optional(),
  expires: expiresOption.optional(),
  description: description.optional(),
  json: z.boolean().default(false),
});

export const TokensListOptions = z
  .object({
    user: userNameSchema('--user').optional(),
    allUsers: z.boolean().default(false),
    json: z.boolean().default(false),
  })
  .refine((o) => !(o.user !== undefined && o.allUsers), { error: '--user and --all-users cannot be combined' });

/** Parses with `schema`, or throws a UsageError carrying the first problem. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UsageError(issue?.message ?? 'invalid arguments');
}

/** Commander option collector: every occurrence of a repeatable option, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
