import { statfs } from 'node:fs/promises';
import os from 'node:os';
import type { Resources } from '@cloudai/proto';

const GiB = 1024 ** 3;

export interface CapacityOverrides {
  cpu?: number | undefined;
  memoryGb?: number | undefined;
  storageGb?: number | undefined;
  gpus: number;
}

/**
 * What this worker offers: the host's cores, memory and the free disk under
 * `dataDir` (which must exist), each replaced by its override when set.
 */
export async function hostCapacity(dataDir: string, overrides: CapacityOverrides): Promise<Resources> {
  const cpu = overrides.cpu ?? os.availableParallelism();
  const memoryGb = overrides.memoryGb ?? roundDown(os.totalmem() / GiB);
  const storageGb = overrides.storageGb ?? roundDown(await freeDiskGb(dataDir));
  return { cpu, memoryGb, storageGb, gpu: overrides.gpus };
}

async function freeDiskGb(path: string): Promise<number> {
  const s = await statfs(path);
  // bavail, not bfree: blocks reserved for root are not ours to promise.
  return (s.bavail * s.bsize) / GiB;
}

/** MiB precision, rounded down so we never offer more than exists. */
function roundDown(gb: number): number {
  return Math.floor(gb * 1024) / 1024;
}
