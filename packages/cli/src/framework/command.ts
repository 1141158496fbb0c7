import type { CloudClient } from "@engine-cloud/sdk";
import type { GlobalOptions, OptionSpecs, OptionValues, ParsedOptions } from "./args.js";
import type { ResolvedCredential } from "../sign-in/bearer-source.js";
import type { Output } from "./output.js";
import type { Prompter } from "../sign-in/terminal-prompt.js";

/** What a command runs with. */
export interface CommandContext {
  readonly globals: GlobalOptions;
  readonly out: Output;
  /** One instant for the whole run, so every relative time on a page agrees. */
  readonly now: Date;
  /**
   * The SDK client for --server, --tenant, --protocol and the credential resolveCredential picks (--token,
   * ENGINE_CLOUD_TOKEN or the stored session); built on first use.
   */
  client(): CloudClient;
  /** The credential client() sends, and where it came from. */
  credential(): ResolvedCredential;
  /**
   * A client with exactly this bearer token (none for public calls such as login), to `server` (default: the
   * one of --server) and without --tenant unless `tenant` is given: for calls about one session whatever else
   * is configured, or about one named tenant.
   */
  clientWith(options: { token?: string; server?: string; tenant?: string }): CloudClient;
  /** The CLI's own directory, where login keeps the session (see configDirOf). */
  readonly configDir: string;
  /** Asks the person at the terminal (email, passwords). */
  readonly prompter: Prompter;
  /** Everything on standard input, as text (e.g. a secret piped in). */
  readStdin(): Promise<string>;
  /**
   * A signal that aborts on the first SIGINT or SIGTERM, for commands that run until interrupted. Only
   * commands that ask for it catch the signal; every other command is ended by it as usual.
   */
  untilInterrupted(): AbortSignal;
}

/** A command that calls the server: `engine-cloud <group> <name> <args> [flags]`, or a lone `<name>`. */
export interface Command {
  name: string;
  summary: string;
  /** Names of the required positional arguments, e.g. ["id"]. */
  args: readonly string[];
  /** Names of positional arguments that may be left out, after the required ones. */
  optionalArgs: readonly string[];
  options: OptionSpecs;
  run(ctx: CommandContext, args: string[], options: ParsedOptions): Promise<void>;
}

/** A noun with verbs, e.g. `token` with add, list, get and revoke. */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: readonly Command[];
}

/**
 * A command whose arguments belong to someone else (the server's `serve` and `migrate`): everything after
 * its name is handed over unread. It returns the exit code.
 */
export interface PassthroughCommand {
  name: string;
  summary: string;
  passthrough: true;
  run(argv: string[]): Promise<number>;
}

export type TopLevelCommand = Command | CommandGroup | PassthroughCommand;

export function isGroup(entry: TopLevelCommand): entry is CommandGroup {
  return "commands" in entry;
}

export function isPassthrough(entry: TopLevelCommand): entry is PassthroughCommand {
  return "passthrough" in entry;
}

/** Defines a command with its flags typed from their specs. */
export function defineCommand<const O extends OptionSpecs>(command: {
  name: string;
  summary: string;
  args?: readonly string[];
  optionalArgs?: readonly string[];
  options?: O;
  run(ctx: CommandContext, args: string[], options: OptionValues<O>): Promise<void>;
}): Command {
  return {
    name: command.name,
    summary: command.summary,
    args: command.args ?? [],
    optionalArgs: command.optionalArgs ?? [],
    options: command.options ?? {},
    // parseCommandLine fills every flag of `options` by its spec, which is what OptionValues<O> states.
    run: (ctx, args, options) => command.run(ctx, args, options as OptionValues<O>),
  };
}
