import { ErrorReason } from "@engine-cloud/api";
import { retryLater, type DomainError } from "../errors/domain-error.js";

export interface LoginThrottleOptions {
  /** The failure that starts the delays (1 s after the 5th with 5; then doubling). */
  freeFailures: number;
  /** The first delay; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts one key may have in flight; more are refused before any password is hashed. */
  maxInFlight: number;
  /** One strike is forgiven per this long without a failure; without it strikes last until a success. */
  forgiveOneEveryMs?: number;
  /** Bounds memory under a spray of made-up emails or addresses. */
  maxKeys?: number;
  /** The refusal for an attempt inside a delay (default: LOGIN_THROTTLED). */
  refusal?: (waitMs: number) => DomainError;
  now?: () => number;
}

interface Strikes {
  count: number;
  /** When `count` was last raised: forgiveness runs from here. */
  at: number;
  /** Set by the failure that raised `count`; forgiveness lowers the count, never a delay already given. */
  lockedUntil: number;
}

/** One sign-in attempt under a throttle: report how it went, then `end` it (in a finally). */
export interface LoginAttempt {
  fail(): void;
  succeed(): void;
  end(): void;
}

/**
 * Growing delays for failed logins, keyed by account (email) or by source
 * address, in this process. Attempts inside a delay, or beyond the key's
 * attempts in flight, are refused before any password is hashed.
 *
 * A failure raises the strikes to one more than they were when its attempt
 * *began*, so attempts that were in flight together count as one step: a burst
 * cannot jump a shared address straight to the longest delay. (Known accounts
 * are also throttled in the database, so the lockout holds across servers.)
 */
export class LoginThrottle {
  readonly #strikes = new Map<string, Strikes>();
  readonly #inFlight = new Map<string, number>();
  readonly #o: LoginThrottleOptions & Required<Pick<LoginThrottleOptions, "maxKeys" | "now" | "refusal">>;

  constructor(options: LoginThrottleOptions) {
    this.#o = { maxKeys: 100_000, now: Date.now, refusal: throttled, ...options };
  }

  /** Reserves an attempt on `key`, or throws the refusal (LOGIN_THROTTLED). */
  begin(key: string): LoginAttempt {
    const now = this.#o.now();
    const strikes = this.#strikes.get(key);
    if (strikes && strikes.lockedUntil > now) throw this.#o.refusal(strikes.lockedUntil - now);
    const inFlight = this.#inFlight.get(key) ?? 0;
    if (inFlight >= this.#o.maxInFlight) throw this.#o.refusal(1000);
    this.#inFlight.set(key, inFlight + 1);

    const countAtStart = this.#count(key, now);
    let ended = false;
    return {
      fail: () => this.#strike(key, countAtStart),
      succeed: () => this.#strikes.delete(key),
      end: () => {
        if (ended) return;
        ended = true;
        const left = (this.#inFlight.get(key) ?? 1) - 1;
        if (left > 0) this.#inFlight.set(key, left);
        else this.#inFlight.delete(key);
      },
    };
  }

  /** The strikes on `key` at `now`, after forgiveness. */
  #count(key: string, now: number): number {
    const s = this.#strikes.get(key);
    if (!s) return 0;
    const every = this.#o.forgiveOneEveryMs;
    return every ? Math.max(0, s.count - Math.floor((now - s.at) / every)) : s.count;
  }

  #strike(key: string, countAtStart: number): void {
    const now = this.#o.now();
    const count = countAtStart + 1;
    // Another attempt of the same burst has already taken this step.
    if (this.#count(key, now) >= count) return;
    const over = count - this.#o.freeFailures;
    const lockedUntil = over < 0 ? 0 : now + Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** over);
    this.#strikes.delete(key); // re-inserted last: the map's order is least recently struck first
    this.#strikes.set(key, { count, at: now, lockedUntil });
    while (this.#strikes.size > this.#o.maxKeys) this.#strikes.delete(this.#strikes.keys().next().value!);
  }
}

export function throttled(waitMs: number): DomainError {
  return retryLater(ErrorReason.LOGIN_THROTTLED, "too many failed sign-ins", Math.max(1000, waitMs));
}

/** Too many sign-ins being checked at once, from everywhere: shed load rather than queue without end. */
export function hashingBusy(): DomainError {
  return retryLater(ErrorReason.LOGIN_THROTTLED, "too many sign-ins in progress", 1000);
}

/** Too many invitation codes that did not work from one address: codes are guessed, not mistyped, at that rate. */
export function invitationsThrottled(waitMs: number): DomainError {
  return retryLater(ErrorReason.INVITATION_THROTTLED, "too many invitation codes that did not work from this address", waitMs);
}
