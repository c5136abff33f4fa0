import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Bounds the dead buffers a bulk receiver leaves behind. HTTP/2 hands the
 * received bytes over as views of the socket's read buffers (64 KiB each),
 * which die as soon as gRPC has gathered a message from them: a GiB of
 * garbage per GiB received, outside the JS heap. A young collection
 * (scavenge) frees buffers that died young, but V8 runs one only when its
 * young generation fills with JS objects, which a transfer of large
 * buffers barely allocates; so the dead buffers pile up until the
 * external-memory limit forces a full collection, tens of MiB later (the
 * RSS of the storage and of `cloudai download` during a 1 GiB transfer).
 * Running a young collection after every few MiB received keeps them to
 * those few MiB, at about a millisecond each. (A smaller young generation,
 * `--max-semi-space-size=1`, does it too but collects on every JS
 * allocation burst and halved the upload rate.)
 *
 * `gc` is reached through a new context after allowing it at run time, so
 * no process needs a command-line flag; where that is refused, collections
 * are left to V8 as before.
 */
type Collect = (options: { type: 'minor' | 'major'; execution?: 'sync' }) => void;

let collect: Collect | null | undefined;

function gcFunction(): Collect | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    collect = typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/** Default: a young collection after every 8 MiB received. */
export const YOUNG_COLLECTION_BYTES = 8 * 1024 * 1024;

/**
 * Returns what to call with the size of each chunk received; it runs a
 * young collection after every `everyBytes`. Whether collections can run at
 * all is `canCollectYoung()`.
 */
export function youngCollector(everyBytes = YOUNG_COLLECTION_BYTES): (bytes: number) => void {
  return collectorEvery('minor', everyBytes);
}

/**
 * Returns what to call with the size of each piece of data handled; it runs
 * a full collection after every `everyBytes`. For a receiver whose dead
 * buffers outlive young collections: they wait for a full one, which V8
 * starts only once 64 MiB of them have piled up.
 */
export function fullCollector(everyBytes: number): (bytes: number) => void {
  return collectorEvery('major', everyBytes);
}

function collectorEvery(type: 'minor' | 'major', everyBytes: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    gcFunction()?.({ type });
  };
}

/** Whether this runtime lets the young collector run. */
export function canCollectYoung(): boolean {
  return gcFunction() !== null;
}
