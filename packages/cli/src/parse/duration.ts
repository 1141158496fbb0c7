import { UsageError } from "../framework/usage-error.js";

const unitMs = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const relativePattern = /^(\d+)([mhd])$/;

// A date, or a date-time that names its offset. Date.parse alone also takes "March 3" and offset-less times,
// both read in the local zone, so the same command would mean different instants on different machines.
const isoPattern = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** Reads "90m", "12h" or "30d" as milliseconds. */
export function parseDuration(text: string): number {
  const match = relativePattern.exec(text);
  if (!match) throw new UsageError(`invalid duration "${text}": use a number and m, h or d, e.g. 90m, 12h, 30d`);
  const amount = Number(match[1]);
  if (amount === 0) throw new UsageError(`invalid duration "${text}": it must be longer than zero`);
  return amount * unitMs[match[2] as keyof typeof unitMs];
}

/**
 * Reads an --expires value: a duration from now ("30d", "12h", "90m") or an ISO 8601 date
 * ("2027-01-31", UTC midnight) or date-time with offset ("2027-01-31T09:00:00Z"). It must lie in the future.
 */
export function parseExpiry(text: string, now: Date): Date {
  const expiresAt = relativePattern.test(text) ? new Date(now.getTime() + parseDuration(text)) : parseIsoDate(text);
  if (Number.isNaN(expiresAt.getTime())) throw new UsageError(`invalid --expires "${text}": the date is out of range`);
  if (expiresAt.getTime() <= now.getTime()) {
    throw new UsageError(`invalid --expires "${text}": it must be in the future`);
  }
  return expiresAt;
}

function parseIsoDate(text: string): Date {
  const date = new Date(text);
  if (!isoPattern.test(text) || Number.isNaN(date.getTime()) || !isCalendarDate(text.slice(0, 10))) {
    throw new UsageError(
      `invalid --expires "${text}": use a duration (90m, 12h, 30d) or an ISO date (2027-01-31 or 2027-01-31T09:00:00Z)`,
    );
  }
  return date;
}

// Date rolls "2027-02-30" over to March 2; a mistyped day must be refused, not moved.
function isCalendarDate(yyyyMmDd: string): boolean {
  const [year, month, day] = yyyyMmDd.split("-").map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth;
}
