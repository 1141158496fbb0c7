import { UsageError } from "../framework/usage-error.js";

/**
 * Reads one `name=value` flag value. It splits at the first "=", so values may hold "=" themselves (base64
 * padding, URLs with queries); the value may be empty, the name may not.
 */
export function parseKeyValue(flag: string, text: string): [name: string, value: string] {
  // The errors never quote the text: for --key it is a secret, typed without its name more often than not.
  const at = text.indexOf("=");
  if (at < 0) throw new UsageError(`invalid --${flag}: use name=value (the value given has no "=")`);
  const name = text.slice(0, at);
  if (name === "") throw new UsageError(`invalid --${flag}: use name=value (the value given has no name before "=")`);
  return [name, text.slice(at + 1)];
}

/**
 * Reads every value of a repeatable `name=value` flag into a record, in the order given. A name given twice is
 * refused rather than letting the last one win silently: one of the two was a mistake, and which one is not ours
 * to guess.
 */
export function parseKeyValues(flag: string, texts: readonly string[]): Record<string, string> {
  // A Map, then fromEntries: assigning obj["__proto__"] would drop the pair instead of storing it.
  const entries = new Map<string, string>();
  for (const text of texts) {
    const [name, value] = parseKeyValue(flag, text);
    if (entries.has(name)) throw new UsageError(`--${flag} "${name}" is given more than once`);
    entries.set(name, value);
  }
  return Object.fromEntries(entries);
}
