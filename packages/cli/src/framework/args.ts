import { parseArgs, type ParseArgsConfig } from "node:util";
import type { CloudProtocol } from "@engine-cloud/sdk/node";
import { UsageError } from "./usage-error.js";

/** One flag of a command: how util.parseArgs reads it, and how help shows it. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** May be given more than once; the values are collected in order. */
  multiple?: boolean;
  /** The command fails with a usage error without it. */
  required?: boolean;
  /** The value's name in help, e.g. "<url>". */
  placeholder?: string;
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The parsed flags of a command, typed from its specs: booleans default to false, lists to []. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K]["type"] extends "boolean"
    ? boolean
    : O[K]["multiple"] extends true
      ? string[]
      : O[K]["required"] extends true
        ? string
        : string | undefined;
};

/** OptionValues with the specs erased, as the dispatcher hands them over. */
export type ParsedOptions = Record<string, string | string[] | boolean | undefined>;

export const defaultServerUrl = "http://127.0.0.1:7070";

const protocols: readonly CloudProtocol[] = ["connect", "grpc", "grpc-web"];

/** Flags every command accepts, anywhere on the line. */
export const globalOptionSpecs = {
  server: {
    type: "string",
    placeholder: "<url>",
    description: `Server URL (env ENGINE_CLOUD_URL; default ${defaultServerUrl})`,
  },
  token: {
    type: "string",
    placeholder: "<token>",
    description: "API or session token (env ENGINE_CLOUD_TOKEN; default: the session of 'login')",
  },
  tenant: {
    type: "string",
    placeholder: "<slug>",
    description: "Tenant to act in, for platform administrators (env ENGINE_CLOUD_TENANT)",
  },
  protocol: {
    type: "string",
    placeholder: "<protocol>",
    description: `Wire protocol: ${protocols.join(", ")} (default connect)`,
  },
  json: { type: "boolean", description: "Print only JSON to stdout; errors as JSON to stderr" },
  help: { type: "boolean", short: "h", description: "Show help for a command" },
  version: { type: "boolean", description: "Print the CLI version" },
} as const satisfies OptionSpecs;

export interface GlobalOptions {
  serverUrl: string;
  /** The --token flag alone: credentials.ts weighs it against ENGINE_CLOUD_TOKEN and the stored session. */
  token?: string;
  tenant?: string;
  protocol: CloudProtocol;
  json: boolean;
  help: boolean;
  version: boolean;
}

/** The environment variables the CLI reads; flags win over them. */
export type CliEnv = Record<string, string | undefined>;

/** A word of the command line that is not a flag, with its position in argv. */
export interface CommandWord {
  value: string;
  index: number;
}

/**
 * A first, forgiving read of the line: the global flags' raw values and the words that name the command.
 * Command flags are not known yet, so unknown ones pass here and are refused by parseCommandLine.
 */
export function scanCommandLine(argv: string[]): { values: Record<string, unknown>; words: CommandWord[] } {
  const { values, tokens } = parseArgs({
    args: argv,
    options: toParseArgsOptions(globalOptionSpecs),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const words = tokens.flatMap((t) => (t.kind === "positional" ? [{ value: t.value, index: t.index }] : []));
  return { values, words };
}

/**
 * The strict read of a command's line: global flags plus the command's own, anything else is a usage error.
 * Positionals include the command words themselves.
 */
export function parseCommandLine(
  argv: string[],
  specs: OptionSpecs,
  env: CliEnv,
): { globals: GlobalOptions; options: ParsedOptions; positionals: string[] } {
  const { values, positionals } = parseStrict(argv, { ...globalOptionSpecs, ...specs });
  const options: ParsedOptions = {};
  for (const [name, spec] of Object.entries(specs)) {
    // Strict parsing gives a string flag strings and a boolean flag booleans, never a mix.
    const value = values[name] as ParsedOptions[string];
    if (value === undefined && spec.required) throw new UsageError(`missing required flag --${name}`);
    options[name] = value ?? (spec.type === "boolean" ? false : spec.multiple ? [] : undefined);
  }
  return { globals: resolveGlobalOptions(values, env), options, positionals };
}

/** Flags win over the environment, the environment over defaults. */
export function resolveGlobalOptions(values: Record<string, unknown>, env: CliEnv): GlobalOptions {
  const protocol = stringValue(values.protocol) ?? "connect";
  if (!isProtocol(protocol)) {
    throw new UsageError(`invalid --protocol "${protocol}": use one of ${protocols.join(", ")}`);
  }
  return {
    serverUrl: stringValue(values.server) ?? nonEmpty(env.ENGINE_CLOUD_URL) ?? defaultServerUrl,
    token: stringValue(values.token),
    tenant: stringValue(values.tenant) ?? nonEmpty(env.ENGINE_CLOUD_TENANT),
    protocol,
    json: values.json === true,
    help: values.help === true,
    version: values.version === true,
  };
}

function parseStrict(argv: string[], specs: OptionSpecs) {
  try {
    return parseArgs({ args: argv, options: toParseArgsOptions(specs), strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
}

// util.parseArgs explains at length how to pass values that start with a dash; a usage line needs only
// the first sentence, and "flag" is the word the rest of the CLI uses.
function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^' ]+)/.exec(e.message ?? "")?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /does not take/.test(e.message ?? "") ? `flag ${flag} takes no value` : `flag ${flag} needs a value`;
    default:
      return (e.message ?? String(err)).split("\n")[0];
  }
}

function toParseArgsOptions(specs: OptionSpecs): NonNullable<ParseArgsConfig["options"]> {
  // parseArgs validates every key present, so absent settings must be left out rather than set to undefined.
  return Object.fromEntries(
    Object.entries(specs).map(([name, { type, short, multiple }]) => [
      name,
      { type, ...(short ? { short } : {}), ...(multiple ? { multiple } : {}) },
    ]),
  );
}

function isProtocol(value: string): value is CloudProtocol {
  return (protocols as readonly string[]).includes(value);
}

// In the forgiving scan a string flag given without a value reads as `true`; the strict read reports it.
function stringValue(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}
