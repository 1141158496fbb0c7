import { describe, expect, it } from "vitest";
import { askPasswords, passwordsFromStdin } from "./ask.js";
import type { CommandContext } from "../framework/command.js";
import type { Prompter } from "./terminal-prompt.js";
import { UsageError } from "../framework/usage-error.js";

/** A context whose terminal answers with `answers`, in order. */
function contextAnswering(answers: string[], interactive = true): CommandContext {
  const prompter: Prompter = {
    interactive,
    line: async () => answers.shift() ?? "",
    secret: async () => answers.shift() ?? "",
  };
  return { prompter, readStdin: async () => "from-stdin\n" } as unknown as CommandContext;
}

describe("passwordsFromStdin", () => {
  it("takes the first line, without its newline", () => {
    expect(passwordsFromStdin("correct horse\nrest\n", 1)).toEqual(["correct horse"]);
  });

  it("takes one password per line, CRLF too", () => {
    expect(passwordsFromStdin("old password\r\nnew password\r\n", 2)).toEqual(["old password", "new password"]);
  });

  it("keeps spaces, which may be part of a password", () => {
    expect(passwordsFromStdin("  spaced  \n", 1)).toEqual(["  spaced  "]);
  });

  it("refuses empty input or a missing line", () => {
    expect(() => passwordsFromStdin("", 1)).toThrow(UsageError);
    expect(() => passwordsFromStdin("only one\n", 2)).toThrow("needs 2 passwords");
  });
});

describe("askPasswords", () => {
  it("reads standard input with --password-stdin", async () => {
    await expect(askPasswords(contextAnswering([]), true, [{ prompt: "Password: " }])).resolves.toEqual(["from-stdin"]);
  });

  it("asks for a new password twice and takes it when both agree", async () => {
    const ctx = contextAnswering(["old", "new password", "new password"]);
    const questions = [{ prompt: "Current: " }, { prompt: "New: ", isNew: true }];
    await expect(askPasswords(ctx, false, questions)).resolves.toEqual(["old", "new password"]);
  });

  it("refuses a new password typed differently the second time", async () => {
    const ctx = contextAnswering(["new password", "new pasword"]);
    await expect(askPasswords(ctx, false, [{ prompt: "New: ", isNew: true }])).rejects.toThrow("differ");
  });

  it("is a usage error without a terminal or --password-stdin", async () => {
    await expect(askPasswords(contextAnswering([], false), false, [{ prompt: "P: " }])).rejects.toThrow(UsageError);
  });
});
