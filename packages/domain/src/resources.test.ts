import { describe, expect, it } from 'vitest';
import {
  addUnits,
  firstShortfall,
  fits,
  formatDimension,
  fromUnits,
  sameUnits,
  subtractUnits,
  toUnits,
  ZERO_UNITS,
  type ResourceUnits,
} from './resources.js';

const units = (cpuMillis: number, memoryMb: number, storageMb = 0, gpu = 0): ResourceUnits => ({
  cpuMillis,
  memoryMb,
  storageMb,
  gpu,
});

describe('resource units', () => {
  it('turns 0.1 + 0.2 cores into exactly 300 millicores, where floats give 0.30000000000000004', () => {
    const sum = addUnits(toUnits({ cpu: 0.1, memoryGb: 0, storageGb: 0, gpu: 0 }), toUnits({ cpu: 0.2, memoryGb: 0, storageGb: 0, gpu: 0 }));
    expect(sum.cpuMillis).toBe(300);
    expect(toUnits({ cpu: 0.1 + 0.2, memoryGb: 0, storageGb: 0, gpu: 0 }).cpuMillis).toBe(300);
    expect(fromUnits(sum).cpu).toBe(0.3);
  });

  it('converts GiB to MiB and back', () => {
    expect(toUnits({ cpu: 2.5, memoryGb: 0.5, storageGb: 10, gpu: 2 })).toEqual(units(2500, 512, 10240, 2));
    expect(fromUnits(units(2500, 512, 10240, 2))).toEqual({ cpu: 2.5, memoryGb: 0.5, storageGb: 10, gpu: 2 });
  });

  it('round-trips every value a validated spec can hold', () => {
    for (const cpu of [0.001, 0.1, 0.25, 1, 3.333, 1024]) {
      for (const memoryGb of [0.5, 1.25, 16384]) {
        const r = { cpu, memoryGb, storageGb: 0, gpu: 1 };
        expect(toUnits(fromUnits(toUnits(r)))).toEqual(toUnits(r));
      }
    }
  });

  it('adding then subtracting many small requests returns exactly to zero', () => {
    const small = toUnits({ cpu: 0.1, memoryGb: 0.1, storageGb: 0.3, gpu: 0 });
    let total: ResourceUnits = { ...ZERO_UNITS };
    for (let i = 0; i < 1000; i++) total = addUnits(total, small);
    expect(total.cpuMillis).toBe(100_000);
    for (let i = 0; i < 1000; i++) total = subtractUnits(total, small);
    expect(total).toEqual(ZERO_UNITS);
  });

  it('sameUnits compares every dimension', () => {
    expect(sameUnits(units(1, 2, 3, 4), units(1, 2, 3, 4))).toBe(true);
    expect(sameUnits(units(1, 2, 3, 4), units(1, 2, 3, 5))).toBe(false);
    expect(sameUnits(units(1, 2, 3, 4), units(1, 2, 4, 4))).toBe(false);
    expect(sameUnits(units(1, 2, 3, 4), units(1, 3, 3, 4))).toBe(false);
    expect(sameUnits(units(1, 2, 3, 4), units(2, 2, 3, 4))).toBe(false);
  });

  it('fits needs every dimension to fit, and equality fits', () => {
    const free = units(1000, 1024, 100, 1);
    expect(fits(units(1000, 1024, 100, 1), free)).toBe(true);
    expect(fits(units(1001, 0), free)).toBe(false);
    expect(fits(units(0, 1025), free)).toBe(false);
    expect(fits(units(0, 0, 101), free)).toBe(false);
    expect(fits(units(0, 0, 0, 2), free)).toBe(false);
    expect(fits(ZERO_UNITS, ZERO_UNITS)).toBe(true);
  });

  it('firstShortfall names the first dimension in cpu, memory, storage, gpu order', () => {
    const free = units(1000, 1024, 100, 0);
    expect(firstShortfall(units(500, 512), free)).toBeUndefined();
    expect(firstShortfall(units(2000, 4096, 0, 1), free)).toBe('cpuMillis');
    expect(firstShortfall(units(500, 4096, 0, 1), free)).toBe('memoryMb');
    expect(firstShortfall(units(500, 512, 200, 1), free)).toBe('storageMb');
    expect(firstShortfall(units(500, 512, 0, 1), free)).toBe('gpu');
  });

  it('formats dimensions the way unplaced reasons show them', () => {
    expect(formatDimension('cpuMillis', 2500)).toBe('2.5 cores');
    expect(formatDimension('memoryMb', 3584)).toBe('3.5 GB');
    expect(formatDimension('gpu', 1)).toBe('1 GPU');
    expect(formatDimension('gpu', 2)).toBe('2 GPUs');
  });
});
