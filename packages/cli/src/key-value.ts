import { UsageError } from "./usage-error.js";

/**
 * Reads one `name=value` flag value. It splits at the first "=", so values may hold "=" themselves (base64
 * padding, URLs with queries); the value may be empty, the name may not.
 */
export function parseKeyValue(flag: string, text: string): [name: string, value: string] {
  const at = text.indexOf("=");
  if (at < 0) throw new UsageError(`invalid --${flag} "${text}": use name=value`);
  const name = text.slice(0, at);
  if (name === "") throw new UsageError(`invalid --${flag} "${text}": the name before "=" is empty`);
  return [name, text.slice(at + 1)];
}

/**
 * Reads every value of a repeatable `name=value` flag into a record, in the order given. A name given twice is
 * refused rather than letting the last one win silently: one of the two was a mistake, and which one is not ours
 * to guess.
 */
export function parseKeyValues(flag: string, texts: readonly string[]): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const text of texts) {
    const [name, value] = parseKeyValue(flag, text);
    if (Object.hasOwn(entries, name)) throw new UsageError(`--${flag} "${name}" is given more than once`);
    entries[name] = value;
  }
  return entries;
}
