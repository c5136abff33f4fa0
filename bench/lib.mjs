// Small helpers shared by the benchmarks: statistics and result lines.

export function median(xs) {
  return percentile(xs, 50);
}

export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

/** Prints a machine-readable line that bench/run.mjs collects. */
export function result(name, figures) {
  process.stdout.write(`RESULT ${JSON.stringify({ bench: name, ...figures })}\n`);
}

export function verdict(ok) {
  return ok ? 'meets target' : 'MISSES target';
}

/**
 * Calls `check` every `intervalMs` until it returns something other than
 * undefined, and returns that; throws naming `what` after `timeoutMs`, so
 * a benchmark whose system under test is stuck fails instead of hanging.
 * `what` may be a function, to describe the state at the time of giving up.
 */
export async function pollUntil(check, { what, timeoutMs = 120_000, intervalMs = 20 }) {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > giveUpAt) {
      throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
