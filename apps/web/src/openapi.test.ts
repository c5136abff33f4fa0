import { Task } from '@cloudai/proto';
import { taskJson } from '@cloudai/rpc/client';
import { describe, expect, it } from 'vitest';
import { OPENAPI } from './openapi.js';
import { ROUTES } from './routes.js';

describe('the OpenAPI document', () => {
  it('describes every route the server has, and no other', () => {
    const served = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    const described = Object.entries(OPENAPI.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(described).toEqual(served);
  });

  it('is OpenAPI 3.1 whose references all resolve', () => {
    expect(OPENAPI.openapi).toBe('3.1.0');
    const refs = JSON.stringify(OPENAPI).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of new Set(refs)) expect(OPENAPI.components.schemas, ref).toHaveProperty(ref.split('/').at(-1)!);
  });

  it("names exactly the fields of a task's JSON, as the CLI and the API write it", () => {
    const described = Object.keys((OPENAPI.components.schemas.Task as { properties: object }).properties).sort();
    expect(described).toEqual(Object.keys(taskJson(Task.fromPartial({}))).sort());
  });
});
