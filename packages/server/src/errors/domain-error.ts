import { ErrorReason } from "@engine-cloud/api";

/**
 * The kinds of failure domain code may report. Each maps to exactly one
 * Connect code in errors/to-connect-error.ts; nothing below the edge knows
 * about Connect.
 */
export type DomainErrorKind =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "resource_exhausted"
  | "unavailable"
  | "deadline_exceeded";

/**
 * A failure a caller can act on: a kind, a stable machine-readable reason
 * (a value of proto/engine/cloud/v1/error_reason.proto, so a new one shows in
 * the contract) and a message that says what to do next, in words any client
 * can show: never a client's command, the clients add those by reason.
 * `metadata` travels in the ErrorInfo detail; it must never hold a secret.
 */
export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly reason: ErrorReason,
    message: string,
    readonly metadata: Record<string, string> = {},
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export const invalidArgument = (field: string, message: string) =>
  new DomainError("invalid_argument", ErrorReason.INVALID_ARGUMENT, message, { field });
export const unauthenticated = (reason: ErrorReason, message: string, metadata?: Record<string, string>) =>
  new DomainError("unauthenticated", reason, message, metadata);
export const permissionDenied = (reason: ErrorReason, message: string, metadata?: Record<string, string>) =>
  new DomainError("permission_denied", reason, message, metadata);
export const notFound = (reason: ErrorReason, message: string, metadata?: Record<string, string>) =>
  new DomainError("not_found", reason, message, metadata);
export const alreadyExists = (reason: ErrorReason, message: string) => new DomainError("already_exists", reason, message);
export const failedPrecondition = (reason: ErrorReason, message: string) =>
  new DomainError("failed_precondition", reason, message);

/**
 * Over a limit or throttle: RESOURCE_EXHAUSTED, saying when to try again in
 * the ErrorInfo metadata (`retry_after_ms`, and `retry_after_seconds` rounded
 * up, as LOGIN_THROTTLED has always said it) and in a google.rpc.RetryInfo
 * detail (errors/to-connect-error.ts).
 */
export function retryLater(reason: ErrorReason, why: string, waitMs: number, metadata: Record<string, string> = {}): DomainError {
  const ms = Math.max(1, Math.ceil(waitMs));
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const when = ms < 1000 ? `${ms} ms` : `${seconds} s`;
  return new DomainError("resource_exhausted", reason, `${why}; try again in ${when}`, {
    ...metadata,
    retry_after_seconds: String(seconds),
    retry_after_ms: String(ms),
  });
}
