import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its starting size for this process.
 *
 * Node 24 lets the young generation double after each busy scavenge, up to
 * 64 MiB, all of it resident: a `cloudai download` streaming 1 MiB chunks
 * grew it to 16 MiB for garbage that dies young anyway. The CLI allocates
 * little JavaScript, so more frequent scavenges of a small one cost nothing
 * measurable, and the download's peak RSS falls by ~4 MiB.
 *
 * The apps get the same effect from `--max-semi-space-size=2` on their
 * command line (packages/testing's APP_NODE_FLAGS); the `cloudai` bin has
 * no command line of its own to put a flag on, and the size limit cannot
 * change after start, but the growth factor is read at every resize.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
