import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createDueWakeups } from "./due-wakeups.js";

// On fake timers and a fake performance clock: which wake-ups happen, and when, without the machine's load in it.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("due wake-ups", () => {
  it("wakes at each due time, earliest first, once for due times that coincide", () => {
    const woke: number[] = [];
    const start = performance.now();
    const w = createDueWakeups(() => woke.push(Math.round(performance.now() - start)));
    w.at(120);
    w.at(40);
    w.at(40);
    vi.advanceTimersByTime(200);
    w.close();
    // Each a little after its due time (the slack for the database's clock).
    expect(woke).toHaveLength(2);
    expect(woke[0]).toBeGreaterThanOrEqual(40);
    expect(woke[0]).toBeLessThan(50);
    expect(woke[1]).toBeGreaterThanOrEqual(120);
    expect(woke[1]).toBeLessThan(130);
  });

  it("serves due times a moment apart with one wake", () => {
    let woke = 0;
    const w = createDueWakeups(() => woke++);
    w.at(40);
    vi.advanceTimersByTime(1);
    w.at(40);
    vi.advanceTimersByTime(100);
    w.close();
    expect(woke).toBe(1);
  });

  it("holds at most `max` due times, dropping the latest", () => {
    let woke = 0;
    const w = createDueWakeups(() => woke++, { max: 2 });
    w.at(30);
    w.at(60);
    w.at(90);
    vi.advanceTimersByTime(150);
    w.close();
    expect(woke).toBe(2);
  });

  it("wakes no more once closed", () => {
    let woke = 0;
    const w = createDueWakeups(() => woke++);
    w.at(20);
    w.close();
    vi.advanceTimersByTime(60);
    expect(woke).toBe(0);
  });
});
