import { TASK_STATUSES, WORKER_STATES, type Resources } from '@cloudai/domain';
import {
  LogStream,
  Resources as ProtoResources,
  TaskStatus as ProtoTaskStatus,
  WorkerState as ProtoWorkerState,
} from '@cloudai/proto';
import { describe, expect, it } from 'vitest';
import {
  logStreamFromProto,
  logStreamToProto,
  resourcesFromProto,
  resourcesToProto,
  statusFromProto,
  statusToProto,
  workerStateFromProto,
  workerStateToProto,
} from './convert.js';
import type { LogStreamName } from '@cloudai/domain';

/** One enum's conversion both ways, with what the wire calls its values. */
interface EnumConversion {
  name: string;
  values: readonly string[];
  /** the ts-proto enum: value to name and name to value */
  wire: Record<string | number, string | number>;
  /** the wire name of a value is this prefix and the value in capitals */
  prefix: string;
  unspecified: number;
  toProto(value: string): number;
  fromProto(wire: number): string | undefined;
}

function conversion<V extends string, W extends number>(c: {
  name: string;
  values: readonly V[];
  wire: Record<string | number, string | number>;
  prefix: string;
  unspecified: W;
  toProto: (value: V) => W;
  fromProto: (wire: W) => V | undefined;
}): EnumConversion {
  return c as unknown as EnumConversion;
}

const CONVERSIONS: EnumConversion[] = [
  conversion({
    name: 'task status',
    values: TASK_STATUSES,
    wire: ProtoTaskStatus,
    prefix: 'TASK_STATUS_',
    unspecified: ProtoTaskStatus.TASK_STATUS_UNSPECIFIED,
    toProto: statusToProto,
    fromProto: statusFromProto,
  }),
  conversion({
    name: 'worker state',
    values: WORKER_STATES,
    wire: ProtoWorkerState,
    prefix: 'WORKER_STATE_',
    unspecified: ProtoWorkerState.WORKER_STATE_UNSPECIFIED,
    toProto: workerStateToProto,
    fromProto: workerStateFromProto,
  }),
  conversion({
    name: 'log stream',
    values: ['stdout', 'stderr'] satisfies LogStreamName[],
    wire: LogStream,
    prefix: 'LOG_STREAM_',
    unspecified: LogStream.LOG_STREAM_UNSPECIFIED,
    toProto: logStreamToProto,
    fromProto: logStreamFromProto,
  }),
];

describe.each(CONVERSIONS)('$name', (c) => {
  it.each(c.values)(`%s goes to its ${c.prefix} value on the wire and back`, (value) => {
    const wire = c.toProto(value);
    expect(c.wire[wire]).toBe(`${c.prefix}${value.toUpperCase()}`);
    expect(c.fromProto(wire)).toBe(value);
  });

  it('reads every value the wire names back to the same wire value', () => {
    // ts-proto enums map names to numbers too; UNRECOGNIZED (-1) names no value.
    const named = Object.values(c.wire).filter((v): v is number => typeof v === 'number' && v !== c.unspecified && v !== -1);
    expect(named).toHaveLength(c.values.length);
    for (const wire of named) expect(c.toProto(c.fromProto(wire)!)).toBe(wire);
  });

  it.each([c.unspecified, -1, 99])('reads %i as no value', (wire) => {
    expect(c.fromProto(wire)).toBeUndefined();
  });
});

describe('resources', () => {
  it('survive the wire whole, zeros included', () => {
    const resources: Resources = { cpu: 2.5, memoryGb: 0.125, storageGb: 0, gpu: 0 };
    const bytes = ProtoResources.encode(resourcesToProto(resources)).finish();
    expect(resourcesFromProto(ProtoResources.decode(bytes))).toEqual(resources);
  });

  it('leave the fields a message does not carry missing, so callers apply their defaults', () => {
    const bytes = ProtoResources.encode({ memoryGb: 4 }).finish();
    const read = resourcesFromProto(ProtoResources.decode(bytes));
    expect(read).toEqual({ memoryGb: 4 });
    expect(Object.keys(read)).toEqual(['memoryGb']);
  });

  it('read no message as no fields', () => {
    expect(resourcesFromProto(undefined)).toEqual({});
  });
});
