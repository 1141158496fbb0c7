import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** Where text goes: process.stdout and process.stderr, or a buffer in tests. */
export interface Writer {
  write(text: string): unknown;
}

/** How a command prints: its result to stdout, notes for people to stderr. */
export interface Output {
  /** Prints a command's result: the message as JSON with --json, otherwise the text for people. */
  result<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, forPeople: () => string): void;
  /**
   * Prints one item of a stream as it arrives: with --json a line of compact JSON (JSON Lines, so a script can
   * read item by item), otherwise the line for people.
   */
  item<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, forPeople: () => string): void;
  /** Progress and warnings for people. On stderr, so stdout stays the result alone. */
  note(text: string): void;
}

export function createOutput(stdout: Writer, stderr: Writer, json: boolean): Output {
  // Scripts read fields like `allowed: false` and `tenantId: ""`; proto3 JSON would leave them out.
  const jsonOf = <Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>) =>
    toJson(schema, message, { alwaysEmitImplicit: true });
  return {
    result(schema, message, forPeople) {
      const text = json ? formatJson(jsonOf(schema, message)) : forPeople();
      if (text !== "") stdout.write(`${text}\n`);
    },
    item(schema, message, forPeople) {
      const text = json ? JSON.stringify(jsonOf(schema, message)) : forPeople();
      if (text !== "") stdout.write(`${text}\n`);
    },
    note(text) {
      stderr.write(`${text}\n`);
    },
  };
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Rows of cells as lines, each column padded to its widest cell, two spaces apart, no trailing blanks. */
export function alignColumns(rows: readonly (readonly string[])[], indent = ""): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  }
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, column) => cell.padEnd(widths[column]))
          .join("  ")
          .trimEnd(),
    )
    .join("\n");
}

/** A table for people: headers in capitals, then the rows; empty cells show "-". */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return alignColumns([headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map((cell) => cell || "-"))]);
}

/** One "Label:  value" line per field, values aligned; empty values show "-". */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  return alignColumns(fields.map(([label, value]) => [`${label}:`, value || "-"]));
}

const relativeUnits: readonly { unit: Intl.RelativeTimeFormatUnit; ms: number; below: number }[] = [
  { unit: "minute", ms: 60_000, below: 3_600_000 },
  { unit: "hour", ms: 3_600_000, below: 86_400_000 },
  // Days up to six weeks, so a token made with --expires 30d reads "in 30 days", not "in 1 month".
  { unit: "day", ms: 86_400_000, below: 42 * 86_400_000 },
  { unit: "month", ms: 30 * 86_400_000, below: 365 * 86_400_000 },
  { unit: "year", ms: 365 * 86_400_000, below: Infinity },
];

/** "3 days ago", "in 12 hours", "just now". */
export function relativeTime(date: Date, now: Date): string {
  const delta = date.getTime() - now.getTime();
  const size = Math.abs(delta);
  if (size < 60_000) return "just now";
  const { unit, ms } = relativeUnits.find((u) => size < u.below) ?? relativeUnits[relativeUnits.length - 1];
  return new Intl.RelativeTimeFormat("en", { numeric: "always" }).format(Math.round(delta / ms), unit);
}

/** For tables: a relative time, or `unset` (e.g. "never") when the timestamp is absent. */
export function formatRelative(timestamp: Timestamp | undefined, now: Date, unset = ""): string {
  return timestamp ? relativeTime(timestampDate(timestamp), now) : unset;
}

/** For detail views: "2026-11-22T18:45:00.000Z (3 days ago)", or `unset`. */
export function formatInstant(timestamp: Timestamp | undefined, now: Date, unset = ""): string {
  if (!timestamp) return unset;
  const date = timestampDate(timestamp);
  return `${date.toISOString()} (${relativeTime(date, now)})`;
}
