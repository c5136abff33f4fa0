import { envBoolean, parseEnv } from '@cloudai/config';
import { isLoopbackHost } from '@cloudai/rpc';
import { z } from 'zod';
import { isPlainRelativePath } from './keys.js';

/** Where task outputs live on an S3-compatible object store. */
export interface ObjectStoreConfig {
  /** the server's base URL; undefined: AWS S3 itself, from the region */
  endpoint?: string;
  bucket: string;
  /** prepended to every key: "" or a "/"-terminated path, e.g. "cloudai/outputs/" */
  prefix: string;
  region: string;
  /** bucket in the path (http://host/bucket/key), not the host name: what most self-hosted servers need */
  forcePathStyle: boolean;
}

// AWS's bucket naming rules (general purpose buckets), which other servers follow.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const endpoint = z.string().transform((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected a URL such as https://s3.example.com, got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `expected an http(s) URL, got ${url.protocol}` });
    return z.NEVER;
  }
  if (url.username || url.password || url.search || url.hash) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a bare base URL: credentials come from the AWS variables or files, not the URL, and it takes no query',
    });
    return z.NEVER;
  }
  return url;
});

const bucket = z.string().refine((s) => BUCKET_NAME.test(s) && !s.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(s), {
  message: 'expected a bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
});

const prefix = z.string().transform((s, ctx) => {
  if (!isPlainRelativePath(s, { trailingSlash: true })) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a relative key prefix such as cloudai/outputs/ (no leading /, no empty, . or .. segments, no control characters or backslashes), got ${JSON.stringify(s)}`,
    });
    return z.NEVER;
  }
  return s.endsWith('/') ? s : `${s}/`;
});

/** The object store's variables; credentials are the AWS SDK's own (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws, …). */
export const ObjectStoreEnv = z
  .object({
    /** the server's base URL; unset: AWS S3 in S3_REGION */
    S3_ENDPOINT: endpoint.optional(),
    S3_BUCKET: bucket,
    /** key prefix under which every output object lives */
    S3_PREFIX: prefix.optional(),
    S3_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, { message: 'expected a region name such as us-east-1' })
      .default('us-east-1'),
    /** default: true with S3_ENDPOINT (self-hosted servers), false on AWS */
    S3_FORCE_PATH_STYLE: envBoolean.optional(),
    /** talk plain http to a non-loopback S3_ENDPOINT anyway (otherwise refused) */
    CLOUDAI_ALLOW_INSECURE: envBoolean.default(false),
  })
  .superRefine((env, ctx) => {
    const url = env.S3_ENDPOINT;
    if (url?.protocol === 'http:' && !isLoopbackHost(url.hostname) && !env.CLOUDAI_ALLOW_INSECURE) {
      ctx.addIssue({
        code: 'custom',
        path: ['S3_ENDPOINT'],
        message:
          `refusing plain http to ${url.host}, which is not a loopback address: the request signatures and the ` +
          'outputs would cross the network in the clear; use https, or set CLOUDAI_ALLOW_INSECURE=true to connect anyway',
      });
    }
  });
export type ObjectStoreEnv = z.output<typeof ObjectStoreEnv>;

/** The object store's configuration from `env`; throws one ConfigError naming every bad variable. */
export function objectStoreConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStoreConfig {
  return objectStoreConfigOf(parseEnv(ObjectStoreEnv, env));
}

export function objectStoreConfigOf(env: ObjectStoreEnv): ObjectStoreConfig {
  return {
    endpoint: env.S3_ENDPOINT?.href.replace(/\/$/, ''),
    bucket: env.S3_BUCKET,
    prefix: env.S3_PREFIX ?? '',
    region: env.S3_REGION,
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? env.S3_ENDPOINT !== undefined,
  };
}
