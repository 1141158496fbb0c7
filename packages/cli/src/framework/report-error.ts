import { ErrorReason, reasonName, reasonOf } from "@engine-cloud/api";
import { Code, ConnectError, describeCloudError } from "@engine-cloud/sdk";
import { missingCredentialHint, type ResolvedCredential } from "../sign-in/bearer-source.js";
import { commandHint } from "./command-hints.js";
import { formatJson, type Writer } from "./output.js";
import { PromptInterrupted } from "../sign-in/terminal-prompt.js";
import { UsageError } from "./usage-error.js";

/** What the dispatcher knew when the error happened; filled in as the line is read. */
export interface ErrorContext {
  json: boolean;
  serverUrl: string;
  /** The credential the call sent, once one was resolved. */
  credential?: ResolvedCredential;
  /** The usage line of the command being run, and how to get its help. */
  usage: string;
  helpCommand: string;
}

export const exitCodes = { ok: 0, callFailed: 1, usage: 2, interrupted: 130 } as const;

/**
 * Prints an error to stderr, as one line for people or an {"error": {...}} object with --json, and returns the
 * exit code: 2 for a usage error, 130 for Ctrl-C at a prompt, 1 for anything else.
 */
export function reportError(err: unknown, stderr: Writer, context: ErrorContext): number {
  // Ctrl-C at a prompt: the person knows; the prompt has already ended its line.
  if (err instanceof PromptInterrupted) return exitCodes.interrupted;
  if (err instanceof UsageError) {
    write(stderr, context.json, { reason: "USAGE", message: err.message, usage: context.usage }, [
      `error: ${err.message}`,
      `usage: ${context.usage}`,
      `Run '${context.helpCommand}' for more.`,
    ]);
    return exitCodes.usage;
  }
  if (err instanceof ConnectError) {
    const details = describeCloudError(err);
    // A call that never reached the server carries no ErrorInfo; give it the reason it plainly has.
    const unreachable = details.code === Code.Unavailable && reasonOf(details.reason) === ErrorReason.UNKNOWN;
    const reason = unreachable ? reasonName(ErrorReason.UNAVAILABLE) : details.reason;
    const hint = unreachable
      ? `could not reach the server at ${context.serverUrl}; check --server or ENGINE_CLOUD_URL, and that it is running`
      : (missingCredentialHint(context.credential, details) ?? commandHint(details.reason, details.metadata));
    const tags = [`code=${details.codeName}`, `reason=${reason}`, ...(details.field ? [`field=${details.field}`] : [])];
    write(stderr, context.json, { code: details.codeName, reason, field: details.field, message: details.message, hint }, [
      `error: ${details.message} (${tags.join(", ")})`,
      ...(hint ? [`hint: ${hint}`] : []),
    ]);
    return exitCodes.callFailed;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(stderr, context.json, { message }, [`error: ${message}`]);
  return exitCodes.callFailed;
}

function write(stderr: Writer, json: boolean, error: Record<string, string | undefined>, lines: string[]): void {
  // JSON.stringify leaves out the undefined fields (no field, no hint).
  stderr.write(`${json ? formatJson({ error }) : lines.join("\n")}\n`);
}
