import { describe, expect, it } from "vitest";
import { refreshDueAt, refreshInMs, refreshLeadMs, refreshWindowMs } from "./refresh-due.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe("the refresh schedule", () => {
  it("takes W = min(15 min, half the lifetime)", () => {
    expect(refreshWindowMs(3600)).toBe(15 * 60_000);
    expect(refreshWindowMs(1200)).toBe(10 * 60_000);
    expect(refreshWindowMs(3)).toBe(1500);
  });

  it("refreshes W to W + 20 % before expiry, never after W (the margin runtimes are promised)", () => {
    expect(refreshLeadMs(3000, 0)).toBe(1500);
    expect(refreshLeadMs(3000, 0.999999)).toBeCloseTo(1800, 2);
    expect(refreshLeadMs(HOUR, 0.5)).toBe(16.5 * 60_000);
    for (let i = 0; i < 1000; i++) {
      const lead = refreshLeadMs(3000);
      expect(lead).toBeGreaterThanOrEqual(1500);
      expect(lead).toBeLessThanOrEqual(1800);
    }
  });

  it("never waits past the keep-alive, and a token already inside its lead is due now", () => {
    expect(refreshInMs(30 * DAY, 30 * DAY, DAY, 0)).toBe(DAY);
    expect(refreshInMs(3000, 1000, DAY, 0)).toBe(0);
    expect(refreshInMs(HOUR, HOUR, DAY, 0)).toBe(45 * 60_000);
  });

  it("dates the first refresh of a token just issued from its expiry", () => {
    const now = new Date("2026-12-01T10:00:00Z");
    const expiresAt = new Date(now.getTime() + HOUR);
    expect(refreshDueAt(expiresAt, 3600, DAY, now, 0).toISOString()).toBe("2026-12-01T10:45:00.000Z");
    expect(refreshDueAt(expiresAt, 3600, DAY, now, 0.5).toISOString()).toBe("2026-12-01T10:43:30.000Z");
  });
});
