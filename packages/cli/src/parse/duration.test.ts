import { describe, expect, it } from "vitest";
import { parseDuration, parseExpiry } from "./duration.js";
import { UsageError } from "../framework/usage-error.js";

const now = new Date("2026-11-22T18:00:00Z");

describe("parseDuration", () => {
  it("reads minutes, hours and days", () => {
    expect(parseDuration("90m")).toBe(90 * 60_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
  });

  it("refuses a zero duration", () => {
    expect(() => parseDuration("0d")).toThrow(UsageError);
  });

  it.each(["", "30", "d", "1.5h", "-2d", "10s", "2w", "30 d", "1h30m"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });
});

describe("parseExpiry", () => {
  it("counts a duration from now", () => {
    expect(parseExpiry("30d", now).toISOString()).toBe("2026-12-22T18:00:00.000Z");
    expect(parseExpiry("90m", now).toISOString()).toBe("2026-11-22T19:30:00.000Z");
  });

  it("reads an ISO date as midnight UTC", () => {
    expect(parseExpiry("2027-01-31", now).toISOString()).toBe("2027-01-31T00:00:00.000Z");
  });

  it("reads an ISO date-time with its offset", () => {
    expect(parseExpiry("2027-01-31T09:30:00Z", now).toISOString()).toBe("2027-01-31T09:30:00.000Z");
    expect(parseExpiry("2027-01-31T09:30:00+02:00", now).toISOString()).toBe("2027-01-31T07:30:00.000Z");
    expect(parseExpiry("2027-01-31T09:30:00.250Z", now).toISOString()).toBe("2027-01-31T09:30:00.250Z");
  });

  it("refuses a date-time without an offset, which would depend on the machine's time zone", () => {
    expect(() => parseExpiry("2027-01-31T09:30:00", now)).toThrow(/ISO date/);
  });

  it("refuses a day the month does not have", () => {
    expect(() => parseExpiry("2027-02-30", now)).toThrow(UsageError);
    expect(() => parseExpiry("2027-13-01", now)).toThrow(UsageError);
  });

  it("refuses a moment in the past or now", () => {
    expect(() => parseExpiry("2020-01-01", now)).toThrow(/must be in the future/);
    expect(() => parseExpiry(now.toISOString(), now)).toThrow(/must be in the future/);
  });

  it("refuses words and other date formats", () => {
    for (const text of ["tomorrow", "never", "Jan 31 2027", "31/01/2027", "2027-1-31"]) {
      expect(() => parseExpiry(text, now), text).toThrow(UsageError);
    }
  });

  it("refuses a duration too long to be a date", () => {
    expect(() => parseExpiry("999999999999d", now)).toThrow(/out of range/);
  });
});
