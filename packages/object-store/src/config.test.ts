import { describe, expect, it } from 'vitest';
import { objectStoreConfigFromEnv } from './config.js';

describe('objectStoreConfigFromEnv', () => {
  it('reads a self-hosted server, path-style by default, the prefix ending in /', () => {
    expect(
      objectStoreConfigFromEnv({ S3_ENDPOINT: 'https://s3.example.com/', S3_BUCKET: 'cloudai-outputs', S3_PREFIX: 'team/outputs' }),
    ).toEqual({
      endpoint: 'https://s3.example.com',
      bucket: 'cloudai-outputs',
      prefix: 'team/outputs/',
      region: 'us-east-1',
      forcePathStyle: true,
    });
  });

  it('reads AWS itself: no endpoint, virtual-hosted style, no prefix', () => {
    expect(objectStoreConfigFromEnv({ S3_BUCKET: 'outputs', S3_REGION: 'eu-west-1' })).toEqual({
      endpoint: undefined,
      bucket: 'outputs',
      prefix: '',
      region: 'eu-west-1',
      forcePathStyle: false,
    });
    expect(objectStoreConfigFromEnv({ S3_BUCKET: 'outputs', S3_FORCE_PATH_STYLE: 'true' }).forcePathStyle).toBe(true);
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => objectStoreConfigFromEnv({})).toThrow(/S3_BUCKET/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'Not_A_Bucket' })).toThrow(/S3_BUCKET: expected a bucket name/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_ENDPOINT: 'not a url' })).toThrow(/S3_ENDPOINT: expected a URL/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_ENDPOINT: 'ftp://h' })).toThrow(/S3_ENDPOINT: expected an http/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_ENDPOINT: 'https://key:secret@h' })).toThrow(/S3_ENDPOINT: must be a bare/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(/S3_FORCE_PATH_STYLE/);
    expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_REGION: 'EU West' })).toThrow(/S3_REGION/);
    for (const prefix of ['/abs', 'a//b', 'a/../b', './a', 'a\\b']) {
      expect(() => objectStoreConfigFromEnv({ S3_BUCKET: 'b0b', S3_PREFIX: prefix })).toThrow(/S3_PREFIX: expected a relative key prefix/);
    }
  });

  it('refuses plain http beyond loopback unless CLOUDAI_ALLOW_INSECURE', () => {
    const env = { S3_BUCKET: 'outputs', S3_ENDPOINT: 'http://s3.internal:9000' };
    expect(() => objectStoreConfigFromEnv(env)).toThrow(/S3_ENDPOINT: refusing plain http to s3\.internal:9000.*CLOUDAI_ALLOW_INSECURE=true/);
    expect(objectStoreConfigFromEnv({ ...env, CLOUDAI_ALLOW_INSECURE: 'true' }).endpoint).toBe('http://s3.internal:9000');
    for (const endpoint of ['http://127.0.0.1:7070', 'http://localhost:7070', 'http://[::1]:7070']) {
      expect(objectStoreConfigFromEnv({ S3_BUCKET: 'outputs', S3_ENDPOINT: endpoint }).endpoint).toBe(endpoint);
    }
  });
});
