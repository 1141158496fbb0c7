import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createTerminalPrompter, PromptInterrupted, type TerminalInput } from "./terminal-prompt.js";

/** A stand-in for a terminal's stdin that records raw-mode changes. */
function fakeTerminal() {
  const input = new PassThrough() as PassThrough & TerminalInput & { rawModes: boolean[] };
  input.isTTY = true;
  input.isRaw = false;
  input.rawModes = [];
  input.setRawMode = (mode: boolean) => {
    input.isRaw = mode;
    input.rawModes.push(mode);
    return input;
  };
  let written = "";
  const output = new PassThrough();
  output.on("data", (d) => (written += d));
  return { input, output, written: () => written };
}

describe("the password prompt", () => {
  it("reads in raw mode without echo and puts the terminal back", async () => {
    const t = fakeTerminal();
    const answer = createTerminalPrompter(t.input, t.output).secret("Password: ");
    t.input.write("s3cr");
    t.input.write("et\x7fT\r");
    await expect(answer).resolves.toBe("s3creT");
    expect(t.input.rawModes).toEqual([true, false]);
    expect(t.written()).toBe("Password: \n");
  });

  it("stops with PromptInterrupted on Ctrl-C, with the terminal put back", async () => {
    const t = fakeTerminal();
    const answer = createTerminalPrompter(t.input, t.output).secret("Password: ");
    t.input.write("half\x03");
    await expect(answer).rejects.toBeInstanceOf(PromptInterrupted);
    expect(t.input.isRaw).toBe(false);
  });

  it("stops with PromptInterrupted when the input ends first", async () => {
    const t = fakeTerminal();
    const answer = createTerminalPrompter(t.input, t.output).secret("Password: ");
    t.input.end();
    await expect(answer).rejects.toBeInstanceOf(PromptInterrupted);
    expect(t.input.isRaw).toBe(false);
  });

  it("reads a character split across chunks whole", async () => {
    const t = fakeTerminal();
    const answer = createTerminalPrompter(t.input, t.output).secret("Password: ");
    const bytes = Buffer.from("ä\r");
    t.input.write(bytes.subarray(0, 1));
    t.input.write(bytes.subarray(1));
    await expect(answer).resolves.toBe("ä");
  });

  it("refuses to read a password from something that is not a terminal", async () => {
    const prompter = createTerminalPrompter(new PassThrough(), new PassThrough());
    expect(prompter.interactive).toBe(false);
    await expect(prompter.secret("Password: ")).rejects.toThrow("no terminal");
  });
});

describe("the line prompt", () => {
  it("reads one line, trimmed", async () => {
    const input = new PassThrough();
    const answer = createTerminalPrompter(input, new PassThrough()).line("Email: ");
    input.write(" ann@acme.com \n");
    await expect(answer).resolves.toBe("ann@acme.com");
  });

  it("stops with PromptInterrupted when the input ends without a line", async () => {
    const input = new PassThrough();
    const answer = createTerminalPrompter(input, new PassThrough()).line("Email: ");
    input.end();
    await expect(answer).rejects.toBeInstanceOf(PromptInterrupted);
  });
});
