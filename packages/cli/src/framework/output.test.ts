import { describe, expect, it } from "vitest";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { formatFields, formatInstant, formatRelative, formatTable, relativeTime } from "./output.js";

const now = new Date("2026-11-22T18:00:00Z");
const minutes = (n: number) => new Date(now.getTime() + n * 60_000);
const days = (n: number) => minutes(n * 24 * 60);

describe("formatTable", () => {
  it("aligns columns under capitalised headers, two spaces apart", () => {
    const table = formatTable(
      ["name", "state"],
      [
        ["alpha", "allowed"],
        ["a-much-longer-name", "denied"],
      ],
    );
    expect(table.split("\n")).toEqual(["NAME                STATE", "alpha               allowed", "a-much-longer-name  denied"]);
  });

  it("widens a column to its header", () => {
    expect(formatTable(["last used", "x"], [["never", "1"]]).split("\n")).toEqual(["LAST USED  X", "never      1"]);
  });

  it("shows empty cells as a dash", () => {
    expect(formatTable(["a", "b", "c"], [["", "x", ""]]).split("\n")[1]).toBe("-  x  -");
  });

  it("leaves no trailing blanks", () => {
    const lines = formatTable(
      ["id", "note"],
      [
        ["1", "short"],
        ["2", "a longer note"],
      ],
    ).split("\n");
    for (const line of lines) expect(line).toBe(line.trimEnd());
  });

  it("prints only the header for no rows", () => {
    expect(formatTable(["id", "label"], [])).toBe("ID  LABEL");
  });
});

describe("formatFields", () => {
  it("aligns values after their labels", () => {
    expect(
      formatFields([
        ["ID", "42"],
        ["Last used", "never"],
        ["Tenant", ""],
      ]).split("\n"),
    ).toEqual(["ID:         42", "Last used:  never", "Tenant:     -"]);
  });
});

describe("relativeTime", () => {
  it("says just now within a minute either way", () => {
    expect(relativeTime(now, now)).toBe("just now");
    expect(relativeTime(new Date(now.getTime() - 59_000), now)).toBe("just now");
  });

  it("speaks of the past and the future", () => {
    expect(relativeTime(minutes(-5), now)).toBe("5 minutes ago");
    expect(relativeTime(minutes(90), now)).toBe("in 2 hours");
    expect(relativeTime(days(-1), now)).toBe("1 day ago");
    expect(relativeTime(days(-3), now)).toBe("3 days ago");
  });

  it("reads a 30-day expiry made a moment ago as 30 days, not a month", () => {
    expect(relativeTime(new Date(days(30).getTime() - 2_000), now)).toBe("in 30 days");
  });

  it("moves to months and years for longer spans", () => {
    expect(relativeTime(days(90), now)).toBe("in 3 months");
    expect(relativeTime(days(-800), now)).toBe("2 years ago");
  });
});

describe("timestamps", () => {
  it("shows a relative time in tables, and a stand-in when unset", () => {
    expect(formatRelative(timestampFromDate(days(-2)), now)).toBe("2 days ago");
    expect(formatRelative(undefined, now, "never")).toBe("never");
  });

  it("shows the exact instant and its distance in detail views", () => {
    expect(formatInstant(timestampFromDate(days(-2)), now)).toBe("2026-11-20T18:00:00.000Z (2 days ago)");
    expect(formatInstant(undefined, now, "no")).toBe("no");
  });
});
