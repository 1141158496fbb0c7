import { DomainError } from "../errors/domain-error.js";

interface Strikes {
  failures: number;
  lockedUntil: number;
}

export interface LoginThrottleOptions {
  /** The failure that starts the delays (1 s after the 5th with 5; then doubling). */
  freeFailures: number;
  /** The first delay; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Refuse a second attempt on a key while one is being checked. */
  oneAtATime: boolean;
  /** Bounds memory under a spray of made-up emails or addresses. */
  maxKeys?: number;
  now?: () => number;
}

/**
 * Growing delays for failed logins, keyed by account (email) and by source
 * address, in this process. Attempts inside a delay are refused before any
 * password is hashed, and each key may have one attempt in flight, so a flood
 * against one account costs one hash at a time and never starves the hashing
 * pool that other people's logins need. (Known accounts are also throttled in
 * the database, so the lockout holds across servers.)
 */
export class LoginThrottle {
  readonly #strikes = new Map<string, Strikes>();
  readonly #inFlight = new Set<string>();
  readonly #o: Required<LoginThrottleOptions>;

  constructor(options: LoginThrottleOptions) {
    this.#o = { maxKeys: 100_000, now: Date.now, ...options };
  }

  /** Reserves an attempt for all keys, or throws LOGIN_THROTTLED; call `release` when done. */
  begin(keys: string[]): void {
    const now = this.#o.now();
    let wait = 0;
    for (const k of keys) {
      const s = this.#strikes.get(k);
      if (s && s.lockedUntil > now) wait = Math.max(wait, s.lockedUntil - now);
      if (this.#o.oneAtATime && this.#inFlight.has(k)) wait = Math.max(wait, 1000);
    }
    if (wait > 0) throw throttled(wait);
    if (this.#o.oneAtATime) for (const k of keys) this.#inFlight.add(k);
  }

  release(keys: string[]): void {
    if (this.#o.oneAtATime) for (const k of keys) this.#inFlight.delete(k);
  }

  fail(keys: string[]): void {
    const now = this.#o.now();
    for (const k of keys) {
      const s = this.#strikes.get(k) ?? { failures: 0, lockedUntil: 0 };
      s.failures++;
      const over = s.failures - this.#o.freeFailures;
      if (over >= 0) s.lockedUntil = now + Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** over);
      this.#strikes.delete(k);
      this.#strikes.set(k, s);
    }
    while (this.#strikes.size > this.#o.maxKeys) this.#strikes.delete(this.#strikes.keys().next().value!);
  }

  succeed(keys: string[]): void {
    for (const k of keys) this.#strikes.delete(k);
  }
}

export function throttled(waitMs: number): DomainError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new DomainError("resource_exhausted", "LOGIN_THROTTLED", `too many failed sign-ins; try again in ${seconds} s`, {
    retry_after_seconds: String(seconds),
  });
}
