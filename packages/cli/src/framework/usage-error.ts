/**
 * The command line itself is wrong (unknown command or flag, missing argument, bad value): nothing was
 * sent to the server, and the CLI exits 2 with a usage hint.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
