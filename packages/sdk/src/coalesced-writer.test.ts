import { describe, expect, it } from "vitest";
import { createCoalescedWriter } from "./coalesced-writer.js";

describe("coalesced cache writes", () => {
  it("runs one write at a time and collapses a burst into one follow-up of the latest state", async () => {
    let state = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const written: number[] = [];
    const writer = createCoalescedWriter(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const snapshot = state;
        await new Promise((r) => setTimeout(r, 5));
        written.push(snapshot);
        inFlight--;
      },
      () => {},
    );
    for (state = 1; state <= 100; state++) writer.schedule();
    state = 100;
    await writer.flush();
    expect(maxInFlight).toBe(1);
    expect(written).toEqual([1, 100]);
  });

  it("reports a failed write and keeps writing later ones", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const writer = createCoalescedWriter(
      async () => {
        if (++calls === 1) throw new Error("disk full");
      },
      (e) => errors.push(e),
    );
    writer.schedule();
    await writer.flush();
    writer.schedule();
    await writer.flush();
    expect([calls, errors.length]).toEqual([2, 1]);
  });
});
