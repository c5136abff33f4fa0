/** What a task requests or a worker offers, in the units users type. */
export interface Resources {
  /** cores, fractional allowed (millicore precision) */
  cpu: number;
  /** GiB (MiB precision) */
  memoryGb: number;
  /** GiB (MiB precision) */
  storageGb: number;
  /** whole devices */
  gpu: number;
}

/**
 * Resources in exact integer units. Accounting is done in these so that
 * adding and subtracting never drifts (0.1 + 0.2 cores is exactly 300 m).
 */
export interface ResourceUnits {
  cpuMillis: number;
  memoryMb: number;
  storageMb: number;
  gpu: number;
}

export const RESOURCE_KEYS = ['cpuMillis', 'memoryMb', 'storageMb', 'gpu'] as const satisfies readonly (keyof ResourceUnits)[];

export const ZERO_UNITS: Readonly<ResourceUnits> = Object.freeze({ cpuMillis: 0, memoryMb: 0, storageMb: 0, gpu: 0 });

export function toUnits(r: Resources): ResourceUnits {
  return {
    cpuMillis: Math.round(r.cpu * 1000),
    memoryMb: Math.round(r.memoryGb * 1024),
    storageMb: Math.round(r.storageGb * 1024),
    gpu: Math.round(r.gpu),
  };
}

export function fromUnits(u: ResourceUnits): Resources {
  return { cpu: u.cpuMillis / 1000, memoryGb: u.memoryMb / 1024, storageGb: u.storageMb / 1024, gpu: u.gpu };
}

export function addUnits(a: ResourceUnits, b: ResourceUnits): ResourceUnits {
  return {
    cpuMillis: a.cpuMillis + b.cpuMillis,
    memoryMb: a.memoryMb + b.memoryMb,
    storageMb: a.storageMb + b.storageMb,
    gpu: a.gpu + b.gpu,
  };
}

export function subtractUnits(a: ResourceUnits, b: ResourceUnits): ResourceUnits {
  return {
    cpuMillis: a.cpuMillis - b.cpuMillis,
    memoryMb: a.memoryMb - b.memoryMb,
    storageMb: a.storageMb - b.storageMb,
    gpu: a.gpu - b.gpu,
  };
}

/** True when `a` and `b` are equal on every dimension. */
export function sameUnits(a: ResourceUnits, b: ResourceUnits): boolean {
  return RESOURCE_KEYS.every((k) => a[k] === b[k]);
}

/** True when `need` fits in `free` on every dimension. */
export function fits(need: ResourceUnits, free: ResourceUnits): boolean {
  return (
    need.cpuMillis <= free.cpuMillis &&
    need.memoryMb <= free.memoryMb &&
    need.storageMb <= free.storageMb &&
    need.gpu <= free.gpu
  );
}

/** The first dimension on which `need` does not fit in `free`, if any. */
export function firstShortfall(need: ResourceUnits, free: ResourceUnits): keyof ResourceUnits | undefined {
  return RESOURCE_KEYS.find((k) => need[k] > free[k]);
}

const LABELS: Record<keyof ResourceUnits, string> = {
  cpuMillis: 'cpu',
  memoryMb: 'memory',
  storageMb: 'storage',
  gpu: 'gpu',
};

/** Human form of one dimension: "2.5 cores", "8 GB", "1 GPU". */
export function formatDimension(key: keyof ResourceUnits, value: number): string {
  switch (key) {
    case 'cpuMillis':
      return `${trim(value / 1000, 3)} core${value === 1000 ? '' : 's'}`;
    case 'memoryMb':
    case 'storageMb':
      return `${trim(value / 1024)} GB`;
    case 'gpu':
      return `${value} GPU${value === 1 ? '' : 's'}`;
  }
}

export function dimensionLabel(key: keyof ResourceUnits): string {
  return LABELS[key];
}


function trim(n: number, digits = 2): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
}
