import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_DOMAIN, ErrorReason, reasonName } from "@engine-cloud/api";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { classifyStorageError } from "./classify-storage-error.js";
import { DomainError, type DomainErrorKind } from "./domain-error.js";
import { protocolErrorWithReason } from "./protocol-errors.js";

function codeOf(kind: DomainErrorKind): Code {
  switch (kind) {
    case "invalid_argument":
      return Code.InvalidArgument;
    case "unauthenticated":
      return Code.Unauthenticated;
    case "permission_denied":
      return Code.PermissionDenied;
    case "not_found":
      return Code.NotFound;
    case "already_exists":
      return Code.AlreadyExists;
    case "failed_precondition":
      return Code.FailedPrecondition;
    case "aborted":
      return Code.Aborted;
    case "resource_exhausted":
      return Code.ResourceExhausted;
    case "unavailable":
      return Code.Unavailable;
    case "deadline_exceeded":
      return Code.DeadlineExceeded;
    default: {
      const unreachable: never = kind;
      throw new Error(`unmapped domain error kind ${String(unreachable)}`);
    }
  }
}

/**
 * Builds the one error shape every client sees: a code plus ErrorInfo(reason, domain, metadata).
 * The reason's wire string is its name in error_reason.proto; this is where the server turns
 * the enum into it, for every error it sends.
 */
export function connectErrorWithReason(
  code: Code,
  reason: ErrorReason,
  message: string,
  metadata: Record<string, string> = {},
  cause?: unknown,
): ConnectError {
  return withErrorInfo(code, reasonName(reason), message, metadata, cause);
}

/**
 * The request log's record of an answer our code never made (a plain-HTTP route, or one the
 * protocol layer gave by itself): the same shape, so the log line reads like any other, with a
 * label that is not an ErrorReason ("NOT_READY", "HTTP_415"). Never sent to a caller.
 */
export function errorForLogOnly(code: Code, label: string, message: string): ConnectError {
  return withErrorInfo(code, label, message, {});
}

/**
 * Longest message or metadata value an error carries, in characters. Errors
 * travel in HTTP/2 trailers (grpc-message, grpc-status-details-bin), and a
 * field path can hold a caller's map key of any length: unbounded, one
 * 70 KB key name made a trailer block the connection could not carry, and
 * the whole HTTP/2 connection failed with it (found by the generated-input
 * suite). Clipped on code points, so no surrogate pair is split.
 */
const MAX_ERROR_TEXT = 512;

export function clipErrorText(text: string): string {
  if (text.length <= MAX_ERROR_TEXT) return text;
  const points = Array.from(text);
  return points.length <= MAX_ERROR_TEXT ? text : `${points.slice(0, MAX_ERROR_TEXT - 1).join("")}…`;
}

function withErrorInfo(
  code: Code,
  reason: string,
  fullMessage: string,
  fullMetadata: Record<string, string>,
  cause?: unknown,
): ConnectError {
  const message = clipErrorText(fullMessage);
  const metadata = Object.fromEntries(Object.entries(fullMetadata).map(([k, v]) => [k, clipErrorText(v)]));
  const details: NonNullable<ConstructorParameters<typeof ConnectError>[3]> = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) },
  ];
  if (metadata.field) {
    details.push({
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: [{ field: metadata.field, description: message, reason }],
      }),
    });
  }
  if (metadata.retry_after_ms) {
    // The standard hint too, for clients that honour RetryInfo without knowing our metadata.
    const ms = Number(metadata.retry_after_ms);
    const retryDelay = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
    details.push({ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay }) });
  }
  return new ConnectError(message, code, undefined, details, cause);
}

/**
 * The single place where failures become wire errors. Unknown errors become
 * INTERNAL with a generic message: their text may hold internals (SQL, paths),
 * so it goes to the log through `cause`, never to the caller.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof DomainError) {
    return connectErrorWithReason(codeOf(err.kind), err.reason, err.message, err.metadata, err);
  }
  if (err instanceof ConnectError) {
    if (err.findDetails(ErrorInfoSchema).length > 0) return err;
    // Errors raised by connect itself (bad framing, bad input, deadline, cancel) get a reason too.
    return protocolErrorWithReason(err);
  }
  // A database that is down, stuck or full is not a bug: the caller learns it may retry.
  const storage = classifyStorageError(err);
  if (storage) return connectErrorWithReason(codeOf(storage.kind), storage.reason, storage.message, storage.metadata, err);
  return connectErrorWithReason(Code.Internal, ErrorReason.INTERNAL, "internal error; the server log has the details", {}, err);
}
