import { describe, expect, it } from "vitest";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { invitationsThrottled, LoginThrottle, type LoginThrottleOptions } from "./login-throttle.js";

function throttleAt(options: Partial<LoginThrottleOptions> = {}) {
  const clock = { now: 1_000_000 };
  const throttle = new LoginThrottle({
    freeFailures: 3,
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
    maxInFlight: 1,
    now: () => clock.now,
    ...options,
  });
  /** Seconds to wait before `key` may try again; 0 when it may now. */
  const waitFor = (key: string) => {
    try {
      throttle.begin(key).end();
      return 0;
    } catch (err) {
      if (!(err instanceof DomainError) || err.reason !== ErrorReason.LOGIN_THROTTLED) throw err;
      return Number(err.metadata?.retry_after_seconds);
    }
  };
  const failOnce = (key: string) => {
    const a = throttle.begin(key);
    a.fail();
    a.end();
  };
  return { throttle, clock, waitFor, failOnce };
}

describe("LoginThrottle", () => {
  it("refuses with the refusal it was built with, and its retry hint", () => {
    const { throttle, failOnce } = throttleAt({ refusal: invitationsThrottled, freeFailures: 1 });
    failOnce("a");
    expect(() => throttle.begin("a")).toThrow(
      expect.objectContaining({
        kind: "resource_exhausted",
        reason: ErrorReason.INVITATION_THROTTLED,
        metadata: expect.objectContaining({ retry_after_seconds: "1" }),
      }),
    );
  });

  it("lets the free failures through, then doubles the delay with each further one", () => {
    const { clock, waitFor, failOnce } = throttleAt();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      failOnce("a");
      waits.push(waitFor("a"));
      clock.now += waits.at(-1)! * 1000;
    }
    expect(waits).toEqual([0, 0, 1, 2, 4, 8]);
    expect(waitFor("b")).toBe(0);
  });

  it("caps the delay", () => {
    const { clock, waitFor, failOnce } = throttleAt();
    for (let i = 0; i < 20; i++) {
      failOnce("a");
      clock.now += waitFor("a") * 1000;
    }
    failOnce("a");
    expect(waitFor("a")).toBe(60);
  });

  it("clears a key's strikes on success", () => {
    const { throttle, waitFor, failOnce } = throttleAt();
    failOnce("a");
    failOnce("a");
    const ok = throttle.begin("a");
    ok.succeed();
    ok.end();
    failOnce("a");
    failOnce("a");
    expect(waitFor("a")).toBe(0);
  });

  it("refuses attempts beyond the key's limit in flight until one ends", () => {
    const { throttle, waitFor } = throttleAt({ maxInFlight: 2 });
    const first = throttle.begin("a");
    throttle.begin("a");
    expect(waitFor("a")).toBe(1);
    expect(waitFor("b")).toBe(0);
    first.end();
    first.end(); // ending twice frees one slot, not two
    expect(waitFor("a")).toBe(0);
    throttle.begin("a");
    expect(waitFor("a")).toBe(1);
  });

  it("counts failures of attempts that were in flight together as one step", () => {
    // A burst from a shared address must not jump it to the longest delay at once.
    const { throttle, waitFor } = throttleAt({ freeFailures: 1, maxInFlight: 32 });
    const burst = Array.from({ length: 32 }, () => throttle.begin("office"));
    for (const a of burst) {
      a.fail();
      a.end();
    }
    expect(waitFor("office")).toBe(1);
  });

  it("forgives one strike per quiet period, so later failures start lower", () => {
    const { clock, waitFor, failOnce } = throttleAt({ forgiveOneEveryMs: 10_000, maxDelayMs: 15 * 60_000 });
    for (let i = 0; i < 12; i++) {
      failOnce("a");
      clock.now += waitFor("a") * 1000;
    }
    // Each wait forgave some strikes, so the delays stopped doubling where they meet the forgiveness rate.
    failOnce("a");
    const steady = waitFor("a");
    expect(steady).toBeGreaterThanOrEqual(8);
    expect(steady).toBeLessThanOrEqual(64);
    clock.now += 10 * 60_000; // a quiet ten minutes forgives everything
    failOnce("a");
    failOnce("a");
    expect(waitFor("a")).toBe(0); // free again
  });

  it("never shortens a delay already given", () => {
    const { clock, waitFor, failOnce } = throttleAt({ freeFailures: 1, forgiveOneEveryMs: 5000 });
    for (let i = 0; i < 3; i++) {
      failOnce("a");
      clock.now += waitFor("a") * 1000;
    }
    failOnce("a");
    expect(waitFor("a")).toBe(8);
    clock.now += 6000; // a strike is forgiven meanwhile; the 8 s still run their course
    expect(waitFor("a")).toBe(2);
  });

  it("keeps strikes without a forgiveness period until a success", () => {
    const { clock, waitFor, failOnce } = throttleAt();
    for (let i = 0; i < 3; i++) failOnce("a");
    clock.now += 24 * 3600_000;
    failOnce("a");
    expect(waitFor("a")).toBe(2);
  });

  it("forgets the least recently struck keys beyond its bound", () => {
    const { waitFor, failOnce } = throttleAt({ freeFailures: 1, maxKeys: 2 });
    failOnce("a");
    failOnce("b");
    failOnce("c");
    expect([waitFor("a"), waitFor("b"), waitFor("c")]).toEqual([0, 1, 1]);
  });
});
