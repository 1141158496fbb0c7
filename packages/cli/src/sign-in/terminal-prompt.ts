import { createInterface } from "node:readline";
import { StringDecoder } from "node:string_decoder";
import { applySecretKeys } from "../parse/secret-keys.js";

/** Asks the person at the terminal. Questions go to stderr, so stdout stays the command's result. */
export interface Prompter {
  /** Whether there is a terminal to ask on (standard input is one). */
  readonly interactive: boolean;
  /** Reads one line, echoed as typed. */
  line(question: string): Promise<string>;
  /** Reads one line without echo (a password). */
  secret(question: string): Promise<string>;
}

/** The person pressed Ctrl-C at a prompt: the CLI stops at once, exit 130 as a shell reports SIGINT. */
export class PromptInterrupted extends Error {
  override readonly name = "PromptInterrupted";
  constructor() {
    super("interrupted");
  }
}

/** What the prompter needs of standard input: process.stdin, or a stand-in in tests. */
export interface TerminalInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export function createTerminalPrompter(input: TerminalInput, output: NodeJS.WritableStream): Prompter {
  return {
    interactive: Boolean(input.isTTY),
    line: (question) => readLine(input, output, question),
    secret: (question) => readSecret(input, output, question),
  };
}

function readLine(input: TerminalInput, output: NodeJS.WritableStream, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, output, terminal: Boolean(input.isTTY) });
    let answered = false;
    rl.on("SIGINT", () => {
      output.write("\n");
      rl.close();
    });
    // Closed without an answer: Ctrl-C, Ctrl-D on an empty line, or the input ended.
    rl.on("close", () => {
      if (!answered) reject(new PromptInterrupted());
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer.trim());
    });
  });
}

/**
 * Reads a secret in raw mode, so the terminal neither echoes it nor turns Ctrl-C into SIGINT: the keys are
 * handled by applySecretKeys, and the terminal is put back as it was whatever happens.
 */
function readSecret(input: TerminalInput, output: NodeJS.WritableStream, question: string): Promise<string> {
  const { setRawMode } = input;
  if (!input.isTTY || !setRawMode) {
    return Promise.reject(new Error("no terminal to read a password from"));
  }
  output.write(question);
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder("utf8");
    const wasRaw = Boolean(input.isRaw);
    let value = "";
    const finish = () => {
      input.off("data", onData);
      input.off("end", onEnd);
      setRawMode.call(input, wasRaw);
      input.pause();
      output.write("\n");
    };
    const onData = (chunk: Buffer | string) => {
      const step = applySecretKeys(value, typeof chunk === "string" ? chunk : decoder.write(chunk));
      value = step.value;
      if (!step.outcome) return;
      finish();
      if (step.outcome === "submit") resolve(value);
      else reject(new PromptInterrupted());
    };
    const onEnd = () => {
      finish();
      reject(new PromptInterrupted());
    };
    setRawMode.call(input, true);
    input.on("data", onData);
    input.on("end", onEnd);
    input.resume();
  });
}
