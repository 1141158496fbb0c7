import { UsageError } from "../framework/usage-error.js";

// Digits only: Number() would also take "1e3", "0x10", " 7 " and "", and BigInt() most of those.
const digits = /^\d+$/;

/** Reads a flag's value as a whole number of at least `min`, as the bigint the API's int64 fields take. */
export function parseWholeNumber(flag: string, text: string, min = 0): bigint {
  if (!digits.test(text)) throw new UsageError(`invalid --${flag} "${text}": use a whole number, e.g. 42`);
  const value = BigInt(text);
  if (value < BigInt(min)) throw new UsageError(`invalid --${flag} "${text}": it must be at least ${min}`);
  // int64 on the wire; a larger value would be refused by the server with a less helpful message.
  if (value > 0x7fff_ffff_ffff_ffffn) throw new UsageError(`invalid --${flag} "${text}": it is too large`);
  return value;
}
