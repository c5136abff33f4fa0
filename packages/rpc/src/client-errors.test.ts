import { AbortError } from 'abort-controller-x';
import { ClientError, ServerError, Status } from 'nice-grpc-common';
import { describe, expect, it } from 'vitest';
import {
  clientErrorKind,
  describeClientError,
  isConnectionLoss,
  isStale,
  isTransient,
  isUnavailable,
  type ClientErrorKind,
} from './client-errors.js';

interface Row {
  kind: ClientErrorKind;
  transient: boolean;
  connectionLoss: boolean;
  stale: boolean;
  unavailable: boolean;
}

const row = (kind: ClientErrorKind, ...flags: Array<'transient' | 'connectionLoss' | 'stale' | 'unavailable'>): Row => ({
  kind,
  transient: flags.includes('transient'),
  connectionLoss: flags.includes('connectionLoss'),
  stale: flags.includes('stale'),
  unavailable: flags.includes('unavailable'),
});

// Every status a server can answer with. The details deliberately say
// something misleading: classification must not read them.
const BY_STATUS: Record<Status, Row> = {
  [Status.OK]: row('internal'),
  [Status.CANCELLED]: row('cancelled', 'transient', 'connectionLoss'),
  [Status.UNKNOWN]: row('internal'),
  [Status.INVALID_ARGUMENT]: row('invalid'),
  [Status.DEADLINE_EXCEEDED]: row('timeout', 'transient', 'connectionLoss', 'unavailable'),
  [Status.NOT_FOUND]: row('not-found', 'stale'),
  [Status.ALREADY_EXISTS]: row('already-exists'),
  [Status.PERMISSION_DENIED]: row('permission-denied'),
  [Status.RESOURCE_EXHAUSTED]: row('exhausted'),
  [Status.FAILED_PRECONDITION]: row('failed-precondition', 'stale'),
  [Status.ABORTED]: row('aborted', 'transient'),
  [Status.OUT_OF_RANGE]: row('invalid'),
  [Status.UNIMPLEMENTED]: row('unimplemented'),
  [Status.INTERNAL]: row('internal'),
  [Status.UNAVAILABLE]: row('unavailable', 'transient', 'connectionLoss', 'unavailable'),
  [Status.DATA_LOSS]: row('internal'),
  [Status.UNAUTHENTICATED]: row('unauthenticated'),
};

function classify(err: unknown): Row {
  return {
    kind: clientErrorKind(err),
    transient: isTransient(err),
    connectionLoss: isConnectionLoss(err),
    stale: isStale(err),
    unavailable: isUnavailable(err),
  };
}

describe('client error classification', () => {
  const statuses = Object.values(Status).filter((v): v is Status => typeof v === 'number');

  it('has a row for every status code nice-grpc knows', () => {
    expect(statuses.map((s) => Status[s]).sort()).toEqual(Object.keys(BY_STATUS).map((s) => Status[Number(s)]).sort());
  });

  it.each(statuses.map((code) => [Status[code], code] as const))('classifies %s by its code', (_, code) => {
    const err = new ClientError('/cloudai.Test/Call', code, 'Received RST_STREAM with code 2 UNAVAILABLE not found');
    expect(classify(err)).toEqual(BY_STATUS[code]);
  });

  it('classifies a code it does not know as internal, and nothing else', () => {
    expect(classify(new ClientError('/cloudai.Test/Call', 99 as Status, 'from the future'))).toEqual(row('internal'));
  });

  it.each([
    ['an abort of our own signal', new AbortError()],
    ['a plain Error', new Error('UNAVAILABLE: connection refused')],
    ['a ServerError (the server side of a call)', new ServerError(Status.UNAVAILABLE, 'down')],
    ['an object that only looks like a gRPC error', { code: Status.UNAVAILABLE, details: 'down' }],
    ['a string', 'UNAVAILABLE'],
    ['undefined', undefined],
    ['null', null],
  ])('classifies %s as local, and nothing else', (_, err) => {
    expect(classify(err)).toEqual(row('local'));
  });
});

describe('describeClientError', () => {
  it.each([
    ['a gRPC failure as CODE: details', new ClientError('/cloudai.Test/Call', Status.NOT_FOUND, 'task t1 not found'), 'NOT_FOUND: task t1 not found'],
    ['an unknown code as its number', new ClientError('/cloudai.Test/Call', 99 as Status, 'odd'), '99: odd'],
    ['an Error as its message', new Error('disk full'), 'disk full'],
    ['anything else as its text', 42, '42'],
  ])('gives %s', (_, err, line) => {
    expect(describeClientError(err)).toBe(line);
  });
});
