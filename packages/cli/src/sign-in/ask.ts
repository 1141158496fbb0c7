import type { OptionSpec } from "../framework/args.js";
import type { CommandContext } from "../framework/command.js";
import { UsageError } from "../framework/usage-error.js";

export interface PasswordQuestion {
  prompt: string;
  /** A new password: asked twice on a terminal, to catch a typo nobody could see. */
  isNew?: boolean;
}

/** The --password-stdin flag; `lines` says what each line of standard input is. */
export function passwordStdinOption(lines: string) {
  return {
    type: "boolean",
    description: `Read ${lines} from standard input instead of asking (for scripts)`,
  } as const satisfies OptionSpec;
}

/**
 * The passwords a command needs, in order: the first lines of standard input with --password-stdin, otherwise
 * asked on the terminal without echo. A password is never taken from a flag: ps and shell history see those.
 */
export async function askPasswords(
  ctx: CommandContext,
  fromStdin: boolean,
  questions: readonly PasswordQuestion[],
): Promise<string[]> {
  if (fromStdin) return passwordsFromStdin(await ctx.readStdin(), questions.length);
  if (!ctx.prompter.interactive) {
    throw new UsageError("no terminal to ask for the password on: pipe it in with --password-stdin");
  }
  const answers: string[] = [];
  for (const question of questions) {
    const password = await ctx.prompter.secret(question.prompt);
    if (password === "") throw new Error("no password given; nothing was changed");
    if (question.isNew && (await ctx.prompter.secret("Repeat it: ")) !== password) {
      throw new Error("the two passwords differ; nothing was changed");
    }
    answers.push(password);
  }
  return answers;
}

/** The first `count` lines of standard input, each a password: none may be missing or empty. */
export function passwordsFromStdin(text: string, count: number): string[] {
  const lines = text.split(/\r?\n/).slice(0, count);
  if (lines.length < count || lines.some((line) => line === "")) {
    throw new UsageError(
      count === 1
        ? "--password-stdin: standard input has no password on its first line"
        : `--password-stdin: standard input needs ${count} passwords, one per line`,
    );
  }
  return lines;
}

/** A value given by its flag, or asked on the terminal; without either it is a usage error. */
export async function flagOrAsk(ctx: CommandContext, given: string | undefined, flag: string, question: string): Promise<string> {
  if (given !== undefined) return given;
  if (!ctx.prompter.interactive) throw new UsageError(`missing --${flag} (there is no terminal to ask on)`);
  return ctx.prompter.line(question);
}
