import { setTimeout as sleep } from 'node:timers/promises';

/** Waits until `read()` has not changed for a quarter of a second; returns its value then. */
export async function settled(read: () => number): Promise<number> {
  let last = -1;
  for (let value = read(); value !== last; value = read()) {
    last = value;
    await sleep(250);
  }
  return last;
}
