import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Command-line flags of a benchmark: parsed strictly, `--help` prints the
 * usage and exits 0, a bad flag prints the problem and the usage and exits 2.
 */
export function parseBenchFlags<O extends Options>(options: O, usage: string) {
  const usageError = (problem: string): never => {
    console.error(`${problem}\n\n${usage}`);
    process.exit(2);
  };
  let flags: ReturnType<typeof parseArgs<{ options: O }>>["values"];
  try {
    flags = parseArgs<{ options: O }>({ options }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
  if ((flags as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  const positiveInt = (name: string, value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) usageError(`--${name}: "${value}" is not a positive whole number`);
    return n;
  };
  const list = (value: string) =>
    value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return { flags, usageError, positiveInt, list };
}
