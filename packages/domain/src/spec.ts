import { z } from 'zod';
import { taskNameSchema } from './ids.js';
import { quoted, utf8ByteLength } from './text.js';

/** Defaults a task gets for resources it does not ask for (as in the seed). */
export const DEFAULT_RESOURCES = { cpu: 1, memoryGb: 0.5, storageGb: 1, gpu: 0 } as const;

/** Upper bounds: anything above is a typo, not a request. */
export const RESOURCE_LIMITS = { cpu: 1024, memoryGb: 16384, storageGb: 1048576, gpu: 64 } as const;

const MAX_COMMAND_ARGS = 4096;
/**
 * Linux's MAX_ARG_STRLEN: the longest single argument, or "KEY=value"
 * environment entry, that exec takes; a longer one would fail the task only
 * when its container starts.
 */
const MAX_ARG_BYTES = 128 * 1024;
const MAX_ENV_VARS = 1024;
export const MAX_TIMEOUT_SECONDS = 30 * 24 * 3600;

function resource(field: string, max: number, { integer = false, positive = true } = {}) {
  return z
    .number({
      // zod refuses NaN and ±Infinity as "not a number"; say what was sent.
      error: (iss) =>
        typeof iss.input === 'number'
          ? `${field} must be a finite number, got ${String(iss.input)}`
          : `${field} must be a number`,
    })
    .refine((n) => (positive ? n > 0 : n >= 0), {
      error: (iss) => `${field} must be ${positive ? '> 0' : '>= 0'}, got ${String(iss.input)}`,
    })
    .refine((n) => n <= max, { error: (iss) => `${field} must be <= ${max}, got ${String(iss.input)}` })
    .refine((n) => !integer || Number.isInteger(n), {
      error: (iss) => `${field} must be a whole number, got ${String(iss.input)}`,
    });
}

export const ResourcesSchema = z.object({
  cpu: resource('resources.cpu', RESOURCE_LIMITS.cpu).refine((n) => n >= 0.001, {
    error: (iss) => `resources.cpu must be at least 0.001 cores, got ${String(iss.input)}`,
  }),
  memoryGb: resource('resources.memory_gb', RESOURCE_LIMITS.memoryGb).refine((n) => n >= 4 / 1024, {
    error: (iss) => `resources.memory_gb must be at least 4 MiB (0.004), got ${String(iss.input)}`,
  }),
  storageGb: resource('resources.storage_gb', RESOURCE_LIMITS.storageGb, { positive: false }),
  gpu: resource('resources.gpu', RESOURCE_LIMITS.gpu, { integer: true, positive: false }),
});

// Docker image reference, as the engine parses it:
// [host[:port]/]path[/path...][:tag][@sha256:digest], path components lowercase.
const IMAGE_RE = new RegExp(
  '^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?/)?' +
    '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*' +
    '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$',
);
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const TaskSpecSchema = z.object({
  image: z
    .string()
    .min(1, { error: 'image is required' })
    .max(512, { error: 'image must be at most 512 characters' })
    .regex(IMAGE_RE, { error: 'image must be a Docker image reference like "name:tag"' }),
  command: z
    .array(
      z
        .string()
        .refine((s) => !s.includes('\u0000'), { error: 'command arguments must not contain NUL' })
        .refine((s) => utf8ByteLength(s) <= MAX_ARG_BYTES, {
          error: `command arguments must be at most ${MAX_ARG_BYTES} bytes`,
        }),
    )
    .max(MAX_COMMAND_ARGS, { error: `command must have at most ${MAX_COMMAND_ARGS} arguments` }),
  env: z
    .record(
      z.string().regex(ENV_KEY_RE, { error: (iss) => `env key ${quoted(String(iss.input))} is not a valid variable name` }),
      z.string().refine((s) => !s.includes('\u0000'), { error: 'env values must not contain NUL' }),
    )
    .refine((e) => Object.keys(e).length <= MAX_ENV_VARS, { error: `env must have at most ${MAX_ENV_VARS} variables` })
    .refine((e) => Object.entries(e).every(([k, v]) => utf8ByteLength(k) + 1 + utf8ByteLength(v) <= MAX_ARG_BYTES), {
      error: `env entries ("KEY=value") must be at most ${MAX_ARG_BYTES} bytes each`,
    }),
  resources: ResourcesSchema,
  taskName: taskNameSchema('task_name'),
  timeoutSeconds: z
    .number()
    .int({ error: 'timeout_seconds must be a whole number' })
    .min(0, { error: 'timeout_seconds must be >= 0' })
    .max(MAX_TIMEOUT_SECONDS, { error: `timeout_seconds must be <= ${MAX_TIMEOUT_SECONDS}` }),
  network: z.boolean(),
});

export type TaskSpec = z.infer<typeof TaskSpecSchema>;

/**
 * Validates a spec and returns it, or the first problem as a message that
 * names the field ("resources.memory_gb must be > 0, got -1").
 */
export function validateTaskSpec(input: unknown): { ok: true; spec: TaskSpec } | { ok: false; message: string } {
  const parsed = TaskSpecSchema.safeParse(input);
  if (parsed.success) return { ok: true, spec: parsed.data };
  return { ok: false, message: formatZodIssue(parsed.error.issues[0]) };
}

/** One line naming the field: "resources.cpu must be > 0, got -1". */
export function formatZodIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'invalid request';
  // A bad record key carries our message one level down.
  if (issue.code === 'invalid_key') return formatZodIssue(issue.issues[0]);
  // Field names are snake_case on the wire; record keys (user data) stay as typed.
  const [top, ...rest] = issue.path.map(String);
  if (top === undefined) return issue.message;
  const field = [toSnake(top), ...rest].join('.');
  // Our own messages already start with the field name.
  if (issue.message.startsWith(toSnake(top))) return issue.message;
  return `${field}: ${issue.message}`;
}

function toSnake(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
