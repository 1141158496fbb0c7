import { describe, expect, it } from "vitest";
import { createDueWakeups } from "./due-wakeups.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("due wake-ups", () => {
  it("wakes at each due time, earliest first, once for due times that coincide", async () => {
    const woke: number[] = [];
    const start = performance.now();
    const w = createDueWakeups(() => woke.push(Math.round(performance.now() - start)));
    w.at(120);
    w.at(40);
    w.at(40);
    await sleep(200);
    w.close();
    expect(woke).toHaveLength(2);
    expect(woke[0]).toBeGreaterThanOrEqual(40);
    expect(woke[0]).toBeLessThan(110);
    expect(woke[1]).toBeGreaterThanOrEqual(120);
  });

  it("holds at most `max` due times, dropping the latest", async () => {
    let woke = 0;
    const w = createDueWakeups(() => woke++, { max: 2 });
    w.at(30);
    w.at(60);
    w.at(90);
    await sleep(150);
    w.close();
    expect(woke).toBe(2);
  });

  it("wakes no more once closed", async () => {
    let woke = 0;
    const w = createDueWakeups(() => woke++);
    w.at(20);
    w.close();
    await sleep(60);
    expect(woke).toBe(0);
  });
});
