import { globalOptionSpecs, type OptionSpec, type OptionSpecs } from "./args.js";
import type { Command, CommandGroup, PassthroughCommand, TopLevelCommand } from "./command.js";
import { alignColumns } from "./output.js";

export const programName = "engine-cloud";

export const mainUsage = `${programName} <command> [<verb>] [arguments] [flags]`;

/** The one-line usage of a command, built from its specs so help and parsing cannot disagree. */
export function synopsis(path: readonly string[], command: Command): string {
  const args = [...command.args.map((name) => `<${name}>`), ...command.optionalArgs.map((name) => `[<${name}>]`)];
  const flags = Object.entries(command.options).map(([name, spec]) => {
    const flag = flagWithValue(name, spec);
    const shown = spec.required ? flag : `[${flag}]`;
    return spec.multiple ? `${shown}...` : shown;
  });
  return [programName, ...path, ...args, ...flags].join(" ");
}

export function formatMainHelp(commands: readonly TopLevelCommand[]): string {
  return [
    `${programName}: the Engine Cloud admin CLI`,
    "",
    "Usage:",
    `  ${mainUsage}`,
    "",
    "Commands:",
    alignColumns(
      commands.map((c) => [c.name, c.summary]),
      "  ",
    ),
    "",
    "Global flags (anywhere on the line):",
    formatFlags(globalOptionSpecs),
    "",
    "Exit codes: 0 ok, 1 the call failed, 2 usage error, 130 interrupted at a prompt.",
    `Run '${programName} <command> --help' for more about a command.`,
  ].join("\n");
}

export function formatGroupHelp(group: CommandGroup): string {
  return [
    group.summary,
    "",
    "Usage:",
    ...group.commands.map((c) => `  ${synopsis([group.name, c.name], c)}`),
    "",
    "Commands:",
    alignColumns(
      group.commands.map((c) => [c.name, c.summary]),
      "  ",
    ),
    "",
    `Run '${programName} ${group.name} <verb> --help' for more, '${programName} --help' for global flags.`,
  ].join("\n");
}

export function formatCommandHelp(path: readonly string[], command: Command): string {
  const flags = Object.keys(command.options).length > 0 ? ["", "Flags:", formatFlags(command.options)] : [];
  return [
    command.summary,
    "",
    "Usage:",
    `  ${synopsis(path, command)}`,
    ...flags,
    "",
    "Global flags:",
    formatFlags(globalOptionSpecs),
  ].join("\n");
}

export function formatPassthroughHelp(command: PassthroughCommand): string {
  return [
    command.summary,
    "",
    "Usage:",
    `  ${programName} ${command.name} [server flags...]`,
    "",
    `Everything after '${command.name}' goes to the server; '${programName} ${command.name} --help' shows its flags.`,
  ].join("\n");
}

function formatFlags(specs: OptionSpecs): string {
  return alignColumns(
    Object.entries(specs).map(([name, spec]) => [
      [spec.short ? `-${spec.short}, ` : "", flagWithValue(name, spec)].join(""),
      spec.description,
    ]),
    "  ",
  );
}

function flagWithValue(name: string, spec: OptionSpec): string {
  return spec.type === "string" ? `--${name} ${spec.placeholder ?? "<value>"}` : `--${name}`;
}
