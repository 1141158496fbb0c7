import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { text } from "node:stream/consumers";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { defaultServerUrl, parseCommandLine, resolveGlobalOptions, scanCommandLine, type CliEnv } from "./framework/args.js";
import { isGroup, isPassthrough, type Command, type CommandContext, type TopLevelCommand } from "./framework/command.js";
import { authCommands } from "./commands/auth.js";
import { credentialCommands } from "./commands/credential.js";
import { connectionCommands } from "./commands/connection.js";
import { oauthAppCommands } from "./commands/oauth-app.js";
import { keysCommands } from "./commands/keys.js";
import { auditCommands } from "./commands/audit.js";
import { loginCommand } from "./commands/login.js";
import { logoutCommand } from "./commands/logout.js";
import { migrateCommand } from "./commands/migrate.js";
import { projectCommands } from "./commands/project.js";
import { runtimeCommands } from "./commands/runtime.js";
import { serveCommand } from "./commands/serve.js";
import { statusCommand } from "./commands/status.js";
import { syncCommands } from "./commands/sync.js";
import { tenantCommands } from "./commands/tenant.js";
import { tokenCommands } from "./commands/token.js";
import { userCommands } from "./commands/user.js";
import { whoamiCommand } from "./commands/whoami.js";
import { resolveCredential, type ResolvedCredential } from "./sign-in/bearer-source.js";
import {
  formatCommandHelp,
  formatGroupHelp,
  formatMainHelp,
  formatPassthroughHelp,
  mainUsage,
  programName,
  synopsis,
} from "./framework/help.js";
import { createOutput, formatJson, type Writer } from "./framework/output.js";
import { exitCodes, reportError, type ErrorContext } from "./framework/report-error.js";
import { configDirOf, readSessionFile } from "./sign-in/session-file.js";
import { createTerminalPrompter, type Prompter } from "./sign-in/terminal-prompt.js";
import { UsageError } from "./framework/usage-error.js";

/** What the CLI touches of the outside world; tests pass their own. */
export interface CliIo {
  env: CliEnv;
  stdout: Writer;
  stderr: Writer;
  now(): Date;
  readStdin(): Promise<string>;
  /** Questions to the person at the terminal (login's email and password). */
  prompter: Prompter;
  /** The user's home directory, under which the CLI keeps its config unless the environment says otherwise. */
  homeDir: string;
  /** A signal that aborts on the first SIGINT or SIGTERM; see CommandContext.untilInterrupted. */
  untilInterrupted(): AbortSignal;
}

const commands: readonly TopLevelCommand[] = [
  tokenCommands,
  projectCommands,
  tenantCommands,
  credentialCommands,
  connectionCommands,
  oauthAppCommands,
  syncCommands,
  runtimeCommands,
  keysCommands,
  auditCommands,
  loginCommand,
  logoutCommand,
  authCommands,
  userCommands,
  whoamiCommand,
  statusCommand,
  serveCommand,
  migrateCommand,
];

/** Runs one command line (without the node and script paths) and returns the process exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const context: ErrorContext = {
    json: false,
    serverUrl: defaultServerUrl,
    usage: mainUsage,
    helpCommand: `${programName} --help`,
  };
  try {
    return await dispatch(argv, io, context);
  } catch (err) {
    return reportError(err, io.stderr, context);
  }
}

/** Finds the command the words name, prints help or runs it. Updates `context` for the error report. */
async function dispatch(argv: string[], io: CliIo, context: ErrorContext): Promise<number> {
  const scan = scanCommandLine(argv);
  context.json = scan.values.json === true;
  const early = resolveGlobalOptions(scan.values, io.env);
  if (early.version) {
    io.stdout.write(`${context.json ? formatJson({ version: cliVersion() }) : `${programName} ${cliVersion()}`}\n`);
    return exitCodes.ok;
  }
  const [first, second] = scan.words;
  if (!first) return printHelp(io, formatMainHelp(commands));

  const entry = commands.find((c) => c.name === first.value);
  if (!entry) throw new UsageError(`unknown command "${first.value}"`);
  if (isPassthrough(entry)) {
    // Flags before the command name are the CLI's; everything after it is the server's, --help included.
    const { globals } = parseCommandLine(argv.slice(0, first.index), {}, io.env);
    if (globals.help) return printHelp(io, formatPassthroughHelp(entry));
    return entry.run(argv.slice(first.index + 1));
  }

  let path: string[];
  let command: Command;
  if (isGroup(entry)) {
    context.usage = `${programName} ${entry.name} <verb> [arguments] [flags]`;
    context.helpCommand = `${programName} ${entry.name} --help`;
    if (!second) return printHelp(io, formatGroupHelp(entry));
    const verb = entry.commands.find((c) => c.name === second.value);
    if (!verb) throw new UsageError(`unknown command "${entry.name} ${second.value}"`);
    [path, command] = [[entry.name, verb.name], verb];
  } else {
    [path, command] = [[entry.name], entry];
  }
  context.usage = synopsis(path, command);
  context.helpCommand = `${programName} ${path.join(" ")} --help`;
  if (early.help) return printHelp(io, formatCommandHelp(path, command));

  const { globals, options, positionals } = parseCommandLine(argv, command.options, io.env);
  Object.assign(context, { json: globals.json, serverUrl: globals.serverUrl });
  const args = commandArguments(path, command, positionals);

  const configDir = configDirOf(io.env, io.homeDir);
  // Resolved on first use: commands that need no credential (login, user accept) never read the session file.
  let credential: ResolvedCredential | undefined;
  const resolvedCredential = () => {
    if (!credential) {
      credential = resolveCredential({
        flagToken: globals.token,
        env: io.env,
        serverUrl: globals.serverUrl,
        loadSession: () => readSessionFile(configDir),
      });
      // So that a refused call can say why no credential went with it.
      context.credential = credential;
    }
    return credential;
  };
  let client: CloudClient | undefined;
  const ctx: CommandContext = {
    globals,
    out: createOutput(io.stdout, io.stderr, globals.json),
    now: io.now(),
    client: () =>
      (client ??= createCloudClient({
        baseUrl: globals.serverUrl,
        token: resolvedCredential().token,
        tenant: globals.tenant,
        protocol: globals.protocol,
      })),
    credential: resolvedCredential,
    clientWith: ({ token, server, tenant }) =>
      createCloudClient({ baseUrl: server ?? globals.serverUrl, token, tenant, protocol: globals.protocol }),
    configDir,
    prompter: io.prompter,
    readStdin: () => io.readStdin(),
    untilInterrupted: () => io.untilInterrupted(),
  };
  await command.run(ctx, args, options);
  return exitCodes.ok;
}

/** The positionals after the command words, exactly as many as the command takes. */
function commandArguments(path: string[], command: Command, positionals: string[]): string[] {
  // The forgiving scan and the strict parse read the words alike unless a command flag stands before them.
  if (path.some((word, i) => positionals[i] !== word)) {
    throw new UsageError(`put flags after the command: ${programName} ${path.join(" ")} [flags]`);
  }
  const args = positionals.slice(path.length);
  if (args.length < command.args.length) throw new UsageError(`missing argument <${command.args[args.length]}>`);
  const most = command.args.length + command.optionalArgs.length;
  if (args.length > most) {
    throw new UsageError(`too many arguments: expected ${most}, got ${args.length} (quote a value that has spaces)`);
  }
  return args;
}

function printHelp(io: CliIo, text: string): number {
  io.stdout.write(`${text}\n`);
  return exitCodes.ok;
}

function cliVersion(): string {
  // ../package.json from both src/ (tests, tsx) and dist/ (the installed binary).
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function processIo(): CliIo {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => new Date(),
    readStdin: () => text(process.stdin),
    prompter: createTerminalPrompter(process.stdin, process.stderr),
    homeDir: homedir(),
    untilInterrupted() {
      const controller = new AbortController();
      // `once`: a second Ctrl-C finds no handler and ends the process at once, should a clean stop hang.
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => controller.abort(signal));
      return controller.signal;
    },
  };
}
