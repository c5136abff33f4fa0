import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from './testing/run-cli.js';

// Every module in the CLI's bundle is compiled or evaluated at each start of
// `cloudai`. The server side of @cloudai/rpc (reflection with protobufjs,
// prom-client, health) and the contract's descriptor set once made `cloudai
// list` 40% slower; the CLI imports @cloudai/rpc/client instead, and this
// keeps them out.
const SERVER_ONLY = ['@grpc/reflection', 'protobufjs', 'prom-client', 'nice-grpc-server-health', 'undecodable', '/descriptors.'];

describe('the CLI bundle', () => {
  it('holds none of the server-only modules', () => {
    const map = JSON.parse(readFileSync(join(CLI_PATH, '..', 'cloudai.cjs.map'), 'utf8')) as { sources: string[] };
    expect(map.sources.length).toBeGreaterThan(50);
    const found = map.sources.filter((source) => SERVER_ONLY.some((name) => source.includes(name)));
    expect(found).toEqual([]);
  });
});
