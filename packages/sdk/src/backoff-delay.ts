export interface BackoffOptions {
  /** The ceiling of the first retry's delay; default 250 ms. */
  initialMs?: number;
  /** The ceiling never exceeds this; default 30 s. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 30_000 } as const;

/**
 * Exponential backoff with full jitter: a uniform delay in
 * [0, min(max, initial·2^attempt)). Jitter spreads the reconnects of many
 * runtimes cut off at the same moment (a server restart) instead of having
 * them return in waves.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  // 2^attempt overflows to Infinity long before it matters; min() then yields maxMs.
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
