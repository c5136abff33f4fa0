import { TASK_SORTS } from '@cloudai/rpc/client';
import type { Route } from './context.js';
import { sendJson } from './http-io.js';

// The HTTP API's OpenAPI 3.1 document, written by hand next to the routes; a
// test holds the two to each other (every route is here and nothing else).

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string) => ({ type: [type, 'null'] });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const id = { name: 'id', in: 'path', required: true, description: 'the task id', schema: { type: 'string' } };
const query = (name: string, description: string, schema: unknown = { type: 'string' }) => ({ name, in: 'query', description, schema });

/** The errors every authenticated call may answer. */
const COMMON_ERRORS = {
  '400': error('a parameter or body field breaks a rule (`field` names it)'),
  '401': error('no token, a bad one, or an expired session'),
  '404': error('no such task, or another user\'s (answered alike)'),
  '503': error('the master is unavailable'),
};

const SSE = (description: string) => ({ description, content: { 'text/event-stream': { schema: { type: 'string' } } } });

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'cloudai HTTP API',
    version: '1',
    description:
      'Tasks, logs, output files, workers and events of a cloudai cluster, acting as the caller. Scripts send ' +
      '`Authorization: Bearer <API token>`. The console signs in with POST /session and then sends the session cookie; ' +
      'its POST and DELETE requests must carry `X-CSRF-Token`. Errors are `{code, message, field?}`.',
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearer: [] }, { session: [] }],
  paths: {
    '/session': {
      post: {
        summary: 'Sign a browser in with an API token',
        security: [],
        requestBody: { required: true, ...json({ type: 'object', required: ['token'], properties: { token: { type: 'string' } } }) },
        responses: {
          '200': { description: 'signed in; Set-Cookie carries the session (HttpOnly, SameSite=Strict)', ...json(ref('Session')) },
          '400': COMMON_ERRORS['400'],
          '401': COMMON_ERRORS['401'],
          '503': COMMON_ERRORS['503'],
        },
      },
      get: { summary: 'Who the caller is (csrfToken is null for a bearer token)', responses: { '200': json(ref('Session')), '401': COMMON_ERRORS['401'] } },
      delete: { summary: 'Sign the browser out', responses: { '204': { description: 'signed out' }, '401': COMMON_ERRORS['401'], '403': error('no X-CSRF-Token') } },
    },
    '/tasks': {
      get: {
        summary: "The caller's tasks (admins: all_users=true for everyone's), newest first unless sorted",
        parameters: [
          query('status', 'any of these statuses, comma-separated (RUNNING,FAILED)'),
          query('name', 'exactly this task name'),
          query('since', 'submitted after: a duration back from now (10m, 2h, 1d) or an ISO time'),
          query('limit', '1-1000 (default 50)', { type: 'integer', minimum: 1, maximum: 1000 }),
          query('sort', 'submitted_at (default), task_name or status; a leading - sorts descending (default -submitted_at)', {
            type: 'string',
            enum: [...TASK_SORTS],
          }),
          query('page_token', 'nextPageToken of the previous page, under the same sort'),
          query('all_users', 'admins only', { type: 'boolean' }),
        ],
        responses: {
          '200': json({ type: 'object', properties: { tasks: { type: 'array', items: ref('Task') }, nextPageToken: nullable('string') } }),
          ...COMMON_ERRORS,
        },
      },
      post: {
        summary: 'Submit a task (the rules of SubmitTask and `cloudai task`)',
        requestBody: { required: true, ...json(ref('SubmitTask')) },
        responses: { '201': json({ type: 'object', properties: { task: ref('Task') } }), '403': error('no X-CSRF-Token'), ...COMMON_ERRORS },
      },
    },
    '/tasks/{id}': {
      get: { summary: 'One task', parameters: [id], responses: { '200': json({ type: 'object', properties: { task: ref('Task') } }), ...COMMON_ERRORS } },
    },
    '/tasks/{id}/cancel': {
      post: {
        summary: 'Cancel a task',
        parameters: [id],
        responses: { '200': json({ type: 'object', properties: { task: ref('Task') } }), '409': error('the task has already ended'), ...COMMON_ERRORS },
      },
    },
    '/tasks/{id}/logs': {
      get: {
        summary: "The task's log: bytes as written, a live event stream (follow=true), or a search (grep=)",
        description:
          'Without follow or grep: text/plain, the task\'s bytes exactly. With follow=true: text/event-stream of ' +
          '`event: log` (`id` is the log position, `data` {stream, text, marker?}) and one closing `event: end` ' +
          '(data {status, exitCode, reason, droppedBytes, logBytes, purged}); reconnecting with Last-Event-ID continues ' +
          'after that position with no gap and no repeat. With grep=TEXT: the matching lines (a plain substring).',
        parameters: [
          id,
          query('tail', 'only the last N lines (text and follow)', { type: 'integer', minimum: 1 }),
          query('since', 'skip output older than a duration (10m) or an ISO time'),
          query('stream', 'only stdout or stderr', { enum: ['stdout', 'stderr'] }),
          query('follow', 'stream live until the task ends', { type: 'boolean' }),
          query('grep', 'search the whole log for this text'),
          query('limit', 'the most matches (default 1000)', { type: 'integer', minimum: 1, maximum: 10000 }),
          query('ignore_case', 'grep without regard to case', { type: 'boolean' }),
          query('download', 'as an attachment named <task id>.log', { type: 'boolean' }),
          query('last_event_id', 'as the Last-Event-ID header, for clients that cannot set it'),
        ],
        responses: {
          '200': {
            description: 'the log, its events, or the matches',
            content: {
              'text/plain': { schema: { type: 'string' } },
              'text/event-stream': { schema: { type: 'string' } },
              'application/json': {
                schema: { type: 'object', properties: { matches: { type: 'array', items: ref('LogLine') }, truncated: { type: 'boolean' } } },
              },
            },
          },
          ...COMMON_ERRORS,
        },
      },
    },
    '/tasks/{id}/log-lines': {
      get: {
        summary: 'A page of numbered log lines, for a viewer that opens at the tail',
        parameters: [
          id,
          query('start', 'the first line (1-based); negative counts from the end: -200 is the last 200 lines', { type: 'integer' }),
          query('count', 'lines in the page, 1-5000 (default 1000)', { type: 'integer', minimum: 1, maximum: 5000 }),
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              lines: { type: 'array', items: ref('LogLine') },
              totalLines: { type: 'integer' },
              complete: { type: 'boolean' },
              follow: {
                description:
                  "a running task's log: follow it with logs?follow=true&last_event_id=<afterPosition> to continue exactly after this page; lines up to `lines` are finished, `pending` holds each stream's unfinished line",
                type: 'object',
                properties: {
                  afterPosition: { type: 'integer' },
                  lines: { type: 'integer' },
                  pending: { type: 'object', properties: { stdout: { type: 'string' }, stderr: { type: 'string' } } },
                },
              },
            },
          }),
          ...COMMON_ERRORS,
        },
      },
    },
    '/tasks/{id}/files': {
      get: {
        summary: "The task's output files",
        parameters: [id],
        responses: { '200': json({ type: 'object', properties: { files: { type: 'array', items: ref('OutputFile') }, totalBytes: { type: 'integer' } } }), ...COMMON_ERRORS },
      },
      delete: {
        summary: "Delete the task's output files",
        parameters: [id],
        responses: {
          '200': json({ type: 'object', properties: { deletedFiles: { type: 'integer' }, deletedBytes: { type: 'integer' } } }),
          '403': error('no X-CSRF-Token'),
          '409': error('the task has not finished'),
          ...COMMON_ERRORS,
        },
      },
    },
    '/tasks/{id}/files/{path}': {
      get: {
        summary: 'One output file, streamed; Range resumes it',
        description:
          'ETag is the quoted sha256. Always Content-Disposition attachment and X-Content-Type-Options: nosniff with a ' +
          "sandboxing CSP; with inline=1, text, JSON, CSV and PNG/JPEG/GIF/WebP images are inline. Everything else " +
          '(HTML, SVG, scripts, …) is application/octet-stream.',
        parameters: [
          id,
          { name: 'path', in: 'path', required: true, description: 'the file\'s path, slashes included', schema: { type: 'string' } },
          query('inline', 'show a safe type in the browser instead of saving it', { type: 'boolean' }),
        ],
        responses: {
          '200': { description: 'the whole file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          '206': { description: 'the range asked for', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          '304': { description: 'If-None-Match matched' },
          '416': error('the range is outside the file'),
          ...COMMON_ERRORS,
        },
      },
    },
    '/tasks/{id}/files.zip': {
      get: {
        summary: "All of the task's output files as one zip, streamed (STORE entries, zip64 when needed)",
        parameters: [id],
        responses: { '200': { description: 'the zip', content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } }, ...COMMON_ERRORS },
      },
    },
    '/files': {
      get: {
        summary: 'Every run of a task name with its files, newest first',
        parameters: [
          { ...query('task_name', 'the task name'), required: true },
          query('limit', '1-1000 runs (default 50)', { type: 'integer' }),
          query('page_token', 'nextPageToken of the previous page'),
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              runs: {
                type: 'array',
                items: { type: 'object', properties: { task: ref('Task'), files: { type: 'array', items: ref('OutputFile') }, totalBytes: { type: 'integer' } } },
              },
              nextPageToken: nullable('string'),
            },
          }),
          ...COMMON_ERRORS,
        },
      },
    },
    '/workers': {
      get: {
        summary: 'The workers (the `cloudai workers --json` shape)',
        parameters: [query('include_lost', 'lost workers too', { type: 'boolean' })],
        responses: { '200': json({ type: 'object', properties: { workers: { type: 'array', items: ref('Worker') } } }), ...COMMON_ERRORS },
      },
    },
    '/events': {
      get: {
        summary: "Live events of the caller's tasks (everyone's for admins): `id` is the seq, `event: event`, data an Event",
        description: 'Starts at the present unless Last-Event-ID (or since) says where; a reconnect with Last-Event-ID misses nothing.',
        parameters: [
          query('task_id', 'only this task'),
          query('worker_id', 'only this worker'),
          query('since', 'from this time (a duration back or an ISO time)'),
          query('last_event_id', 'as the Last-Event-ID header'),
        ],
        responses: { '200': SSE('the event stream'), ...COMMON_ERRORS },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'a cloudai API token (cai_…)' },
      session: { type: 'apiKey', in: 'cookie', name: 'cloudai_session' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: {
            enum: ['invalid_argument', 'unauthenticated', 'permission_denied', 'csrf', 'not_found', 'method_not_allowed', 'conflict',
              'payload_too_large', 'unsupported_media_type', 'range_not_satisfiable', 'resource_exhausted', 'internal', 'unimplemented', 'unavailable'],
          },
          message: { type: 'string' },
          field: { type: 'string' },
        },
      },
      Session: {
        type: 'object',
        properties: { user: { type: 'string' }, role: { enum: ['admin', 'user', 'UNKNOWN'] }, csrfToken: nullable('string') },
      },
      Resources: {
        type: 'object',
        properties: { cpu: nullable('number'), memoryGb: nullable('number'), storageGb: nullable('number'), gpu: nullable('number') },
      },
      OutputFile: { type: 'object', properties: { path: { type: 'string' }, size: { type: 'integer' }, sha256: { type: 'string' } } },
      Task: {
        type: 'object',
        properties: {
          taskId: { type: 'string' },
          taskName: { type: 'string' },
          userId: { type: 'string' },
          image: { type: 'string' },
          command: { type: 'array', items: { type: 'string' } },
          status: { enum: ['QUEUED', 'SCHEDULED', 'RUNNING', 'UPLOADING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'UNKNOWN'] },
          reason: { type: 'string' },
          exitCode: nullable('integer'),
          workerId: nullable('string'),
          pinnedWorkerId: nullable('string'),
          attempt: { type: 'integer' },
          resources: ref('Resources'),
          timeoutSeconds: { type: 'integer' },
          network: { type: 'boolean' },
          submittedAt: { type: ['string', 'null'], format: 'date-time' },
          scheduledAt: { type: ['string', 'null'], format: 'date-time' },
          startedAt: { type: ['string', 'null'], format: 'date-time' },
          finishedAt: { type: ['string', 'null'], format: 'date-time' },
          uploadingAt: { type: ['string', 'null'], format: 'date-time' },
          outputFiles: { type: 'array', items: ref('OutputFile') },
          outputBytes: { type: 'integer' },
          logBytes: { type: 'integer' },
        },
      },
      SubmitTask: {
        type: 'object',
        required: ['image'],
        additionalProperties: false,
        properties: {
          image: { type: 'string' },
          command: { type: 'array', items: { type: 'string' } },
          name: { type: 'string' },
          cpu: { type: 'number' },
          memoryGb: { type: 'number' },
          storageGb: { type: 'number' },
          gpu: { type: 'integer' },
          env: { type: 'object', additionalProperties: { type: 'string' } },
          timeoutSeconds: { type: 'integer' },
          network: { type: 'boolean' },
          idempotencyKey: { type: 'string' },
        },
      },
      LogLine: { type: 'object', properties: { line: { type: 'integer' }, stream: { enum: ['stdout', 'stderr'] }, text: { type: 'string' } } },
      Worker: {
        type: 'object',
        properties: {
          workerId: { type: 'string' },
          state: { enum: ['ALIVE', 'DRAINING', 'LOST', 'UNKNOWN'] },
          address: { type: 'string' },
          capacity: ref('Resources'),
          allocated: ref('Resources'),
          usage: {
            type: ['object', 'null'],
            properties: { cpuPercent: { type: 'number' }, memoryUsedGb: { type: 'number' }, loadAverage1m: { type: 'number' }, runningContainers: { type: 'integer' } },
          },
          lastHeartbeat: { type: ['string', 'null'], format: 'date-time' },
          registeredAt: { type: ['string', 'null'], format: 'date-time' },
          taskIds: { type: 'array', items: { type: 'string' } },
        },
      },
      Event: {
        type: 'object',
        properties: {
          seq: { type: 'integer' },
          time: { type: ['string', 'null'], format: 'date-time' },
          kind: { type: 'string' },
          taskId: nullable('string'),
          workerId: nullable('string'),
          userId: nullable('string'),
          actor: nullable('string'),
          attempt: { type: 'integer' },
          message: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export const OPENAPI_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/openapi.json',
    auth: false,
    handler: async (ctx) => sendJson(ctx.res, 200, OPENAPI, { 'cache-control': 'no-cache' }),
  },
];
