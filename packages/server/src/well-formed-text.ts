/**
 * Text every store and comparison can hold as sent: PostgreSQL text cannot hold U+0000
 * (the statement fails), and an unpaired surrogate (reachable through JSON's `\ud800`) is
 * not Unicode: it would be stored as U+FFFD, another string than the caller's.
 */

// With the u flag a well-formed pair is one code point, so only an unpaired half is a Cs match.
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/** What is wrong with `value` as text, or undefined when nothing is. */
export function findIllFormedText(value: string): string | undefined {
  if (value.includes("\0")) return "must not contain the NUL character (U+0000)";
  if (UNPAIRED_SURROGATE.test(value)) return "must be valid Unicode (it holds an unpaired surrogate)";
  return undefined;
}
