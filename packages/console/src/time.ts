import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** A timestamp for people: local date and time, or a dash when the server left it unset. */
export function formatTime(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString();
}

/** "in 4 min", "3 h ago": how far a moment is from now, for expiries and last-seen times. */
export function relativeTime(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "—";
  const ms = timestampDate(ts).getTime() - now;
  const abs = Math.abs(ms);
  if (abs < 5_000) return "just now";
  const [value, unit] =
    abs < 60_000
      ? [Math.round(abs / 1000), "s"]
      : abs < 3_600_000
        ? [Math.round(abs / 60_000), "min"]
        : abs < 86_400_000
          ? [Math.round(abs / 3_600_000), "h"]
          : [Math.round(abs / 86_400_000), "d"];
  return ms >= 0 ? `in ${value} ${unit}` : `${value} ${unit} ago`;
}

export function millisUntil(ts: Timestamp | undefined, now = Date.now()): number {
  return ts ? timestampDate(ts).getTime() - now : Number.POSITIVE_INFINITY;
}
