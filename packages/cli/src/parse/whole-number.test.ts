import { describe, expect, it } from "vitest";
import { UsageError } from "../framework/usage-error.js";
import { parseWholeNumber } from "./whole-number.js";

describe("parseWholeNumber", () => {
  it("reads digits as a bigint", () => {
    expect(parseWholeNumber("since", "0")).toBe(0n);
    expect(parseWholeNumber("since", "42")).toBe(42n);
  });

  it("reads values beyond a double's exact range without rounding", () => {
    expect(parseWholeNumber("since", "9007199254740993")).toBe(9007199254740993n);
  });

  it.each(["", "-1", "1.5", "1e3", "0x10", " 7", "seven"])("refuses %j", (text) => {
    expect(() => parseWholeNumber("since", text)).toThrow(
      new UsageError(`invalid --since "${text}": use a whole number, e.g. 42`),
    );
  });

  it("refuses a value below the minimum", () => {
    expect(() => parseWholeNumber("expected-version", "0", 1)).toThrow('invalid --expected-version "0": it must be at least 1');
  });

  it("refuses a value beyond int64", () => {
    expect(parseWholeNumber("since", "9223372036854775807")).toBe(2n ** 63n - 1n);
    expect(() => parseWholeNumber("since", "9223372036854775808")).toThrow("too large");
  });
});
