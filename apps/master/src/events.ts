import { EventEmitter, on } from 'node:events';

/**
 * Counts changes that can affect placement so schedulers can long-poll
 * instead of spinning: a task queued, resources freed, a worker joined,
 * left or was drained.
 */
export class ClusterEvents {
  // Seeded from the clock so a restarted master never hands out a
  // generation a scheduler has already seen (which would park its long poll).
  private generationValue = Date.now();
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  get generation(): number {
    return this.generationValue;
  }

  changed(): void {
    this.generationValue++;
    this.emitter.emit('change', this.generationValue);
  }

  /** Resolves when the generation passes `after`, after `waitMs`, or on abort. */
  async waitForChange(after: number, waitMs: number, signal: AbortSignal): Promise<void> {
    if (this.generationValue > after || waitMs <= 0) return;
    const timeout = AbortSignal.timeout(waitMs);
    const both = AbortSignal.any([signal, timeout]);
    try {
      for await (const [generation] of on(this.emitter, 'change', { signal: both })) {
        if ((generation as number) > after) return;
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}
