import { delay } from 'abort-controller-x';
import { isUnavailable } from './client-errors.js';

export interface RetryOptions {
  signal: AbortSignal;
  /** first backoff (ms), doubled each attempt up to maxDelayMs */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** give up after this many attempts (default: until aborted) */
  maxAttempts?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** which errors to retry (default: UNAVAILABLE / DEADLINE_EXCEEDED) */
  retryable?: (err: unknown) => boolean;
}

/**
 * Runs an idempotent call until it succeeds, with capped exponential backoff
 * and jitter, retrying only errors `retryable` accepts.
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5_000;
  const retryable = options.retryable ?? isUnavailable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (options.signal.aborted || !retryable(err)) throw err;
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw err;
      const base = Math.min(max, initial * 2 ** (attempt - 1));
      const wait = Math.round(base / 2 + Math.random() * (base / 2));
      options.onRetry?.(err, attempt, wait);
      await delay(options.signal, wait);
    }
  }
}
