import { envBoolean, envNumber, hostPort, logLevel, metricsEnv, withTlsEnv } from '@cloudai/config';
import { ObjectStoreEnv, objectStoreConfigOf } from '@cloudai/object-store';
import { z } from 'zod';

/** The object store's variables, checked by @cloudai/object-store's own schema when STORAGE_BACKEND=s3. */
const S3_VARIABLES = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_PREFIX', 'S3_REGION', 'S3_FORCE_PATH_STYLE'] as const;

/** The storage service's configuration, from environment variables only. */
// TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, TLS_CA_FILE and CLOUDAI_ALLOW_INSECURE come from withTlsEnv;
// METRICS_ADDR and METRICS_TOKEN_FILE from metricsEnv.
export const Env = withTlsEnv(z.object({
  LISTEN_ADDR: hostPort.default('127.0.0.1:50052'),
  CLOUDAI_DATA_DIR: z.string().default('./.cloudai'),
  /**
   * Where output files are kept: `fs`, folders under STORAGE_ROOT; or `s3`,
   * objects in S3_BUCKET under S3_PREFIX on an S3-compatible store, with
   * credentials from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws files, …). Records stay
   * in SQLite or MONGODB_URI either way.
   */
  STORAGE_BACKEND: z.enum(['fs', 's3']).default('fs'),
  /** Root of stored outputs with STORAGE_BACKEND=fs; default `<CLOUDAI_DATA_DIR>/storage/files`. */
  STORAGE_ROOT: z.string().optional(),
  /** STORAGE_BACKEND=s3: the server's base URL (unset: AWS S3 in S3_REGION). */
  S3_ENDPOINT: z.string().optional(),
  /** STORAGE_BACKEND=s3: the bucket, which must exist (required). */
  S3_BUCKET: z.string().optional(),
  /** STORAGE_BACKEND=s3: prefix of every key, e.g. cloudai/outputs/ (default none). */
  S3_PREFIX: z.string().optional(),
  /** STORAGE_BACKEND=s3: default us-east-1. */
  S3_REGION: z.string().optional(),
  /** STORAGE_BACKEND=s3: bucket in the path, not the host name; default true with S3_ENDPOINT, false on AWS. */
  S3_FORCE_PATH_STYLE: z.string().optional(),
  MONGODB_URI: z.string().startsWith('mongodb', { message: 'expected a mongodb:// or mongodb+srv:// URI' }).optional(),
  /** Per-upload limit on file content; a larger upload fails with RESOURCE_EXHAUSTED. */
  STORAGE_MAX_TASK_BYTES: envNumber({ min: 0, int: true }).default(100 * 1024 ** 3),
  /** Per-upload limit on regular files (folders are bounded by the same number, separately). */
  STORAGE_MAX_TASK_FILES: envNumber({ min: 0, int: true }).default(100_000),
  /** Deepest nesting accepted in an upload ("a/b/c.txt" is 3 levels). */
  STORAGE_MAX_PATH_DEPTH: envNumber({ min: 1, max: 1024, int: true }).default(64),
  /**
   * Acknowledge an upload only once it is on disk (syncfs of the storage
   * filesystem): the worker deletes its copy on the acknowledgement. false
   * is faster but loses acknowledged outputs if the host loses power.
   * fs only: an object store has made a put durable when it answers it.
   */
  STORAGE_FSYNC: envBoolean.default(true),
  /** Stored outputs older than this many days are removed with their records; 0 keeps them forever. */
  OUTPUT_RETENTION_DAYS: envNumber({ min: 0 }).default(0),
  /** How often the retention sweep runs. */
  RETENTION_SWEEP_MS: envNumber({ min: 1_000, int: true }).default(60 * 60 * 1000),
  SHUTDOWN_GRACE_MS: envNumber({ min: 0, max: 600_000, int: true }).default(10_000),
  /**
   * An upload that sends nothing for this long (no header, no data) fails
   * with DEADLINE_EXCEEDED and its partial files are removed; the worker
   * retries it. Without it, a client that opens an upload and goes silent
   * holds the call and its folder in .incoming for good.
   */
  STORAGE_UPLOAD_IDLE_MS: envNumber({ min: 1, max: 3_600_000, int: true }).default(5 * 60 * 1000),
  /**
   * The master's public key (PEM): storage accepts only uploads with a grant
   * it signed and list/download/delete calls it asserted. Default
   * `<CLOUDAI_DATA_DIR>/master/signing-key.pub`, where a master sharing the
   * data folder writes it; read when first needed.
   */
  CLOUDAI_MASTER_PUBLIC_KEY_FILE: z.string().optional(),
  ...metricsEnv('127.0.0.1:9452'),
  LOG_LEVEL: logLevel.default('info'),
  LOG_PRETTY: envBoolean.default(false),
}))
  .superRefine((env, ctx) => {
    if (env.STORAGE_BACKEND !== 's3') return;
    const parsed = ObjectStoreEnv.safeParse(objectStoreVariables(env));
    if (parsed.success) return;
    for (const issue of parsed.error.issues) {
      const variable = issue.path[0] === undefined ? 'S3_BUCKET' : String(issue.path[0]);
      const message = variable === 'S3_BUCKET' && env.S3_BUCKET === undefined ? 'is required with STORAGE_BACKEND=s3' : issue.message;
      ctx.addIssue({ code: 'custom', path: [variable], message });
    }
  })
  .transform((env) => ({
    ...env,
    /** The object store's configuration with STORAGE_BACKEND=s3. */
    objectStore: env.STORAGE_BACKEND === 's3' ? objectStoreConfigOf(ObjectStoreEnv.parse(objectStoreVariables(env))) : undefined,
  }));
export type Env = z.infer<typeof Env>;

/** The S3_* variables as given, for @cloudai/object-store's schema (unset ones left out). */
function objectStoreVariables(env: Partial<Record<(typeof S3_VARIABLES)[number], string>> & { CLOUDAI_ALLOW_INSECURE: boolean }) {
  const raw: Record<string, string> = { CLOUDAI_ALLOW_INSECURE: String(env.CLOUDAI_ALLOW_INSECURE) };
  for (const name of S3_VARIABLES) {
    const value = env[name];
    if (value !== undefined) raw[name] = value;
  }
  return raw;
}
