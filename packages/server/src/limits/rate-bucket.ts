/**
 * A token bucket holding up to one second of its rate, for one key
 * (a credential or a tenant) in this process. Besides what this process
 * admits, it is charged what the other processes admitted for the same key
 * (limiter.ts learns that on each flush), so all processes together admit
 * about the rate, not the rate each. Charges may take it below zero: a key
 * that took more than its share elsewhere waits here too.
 */
export class RateBucket {
  #tokens: number;
  #at: number;
  /** Admitted here since the last flush. */
  unflushed = 0;
  /** The shared total seen at the last flush, and which flush that was. */
  seenTotal?: number;
  seenAtFlush = -1;
  lastUsed: number;

  constructor(rate: number, now: number) {
    this.#tokens = rate;
    this.#at = now;
    this.lastUsed = now;
  }

  /** Milliseconds until one request fits at `rate` per second; 0 when one fits now. */
  waitMs(rate: number, now: number): number {
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#at) * rate) / 1000);
    this.#at = now;
    this.lastUsed = now;
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / rate);
  }

  /** Admits one request; call right after a `waitMs` of 0. */
  take(): void {
    this.#tokens -= 1;
    this.unflushed += 1;
  }

  /** Requests the other processes admitted for this key. */
  charge(count: number): void {
    if (count > 0) this.#tokens -= count;
  }
}
