import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff-delay.js";

describe("reconnect backoff", () => {
  const options = { initialMs: 250, maxMs: 30_000 };

  it("doubles the ceiling with each attempt", () => {
    const almostOne = () => 0.999999;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, options, almostOne))).toEqual([249, 499, 999, 1999]);
  });

  it("never exceeds the maximum, however many attempts", () => {
    expect(backoffDelay(10, options, () => 0.999999)).toBe(29_999);
    expect(backoffDelay(5000, options, () => 0.999999)).toBe(29_999);
  });

  it("jitters over the whole range, down to zero", () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(1000);
  });
});
