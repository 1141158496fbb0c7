import { ConnectError, Code } from "@connectrpc/connect";
import { ErrorReason, reasonName } from "@engine-cloud/api";
import { ErrorInfoSchema, BadRequestSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";

/** What a failed call said, in a form for programs: code, stable reason, offending field. */
export interface CloudErrorDetails {
  code: Code;
  /** Connect code name, e.g. "permission_denied". */
  codeName: string;
  /**
   * Stable machine-readable reason, e.g. "TOKEN_REVOKED": an ErrorReason name (proto/engine/cloud/v1/error_reason.proto;
   * `reasonOf` of @engine-cloud/api turns it into the enum), "UNKNOWN" if the server sent none.
   */
  reason: string;
  /** The request field at fault, for INVALID_ARGUMENT. */
  field?: string;
  /** The server's message for people. */
  message: string;
  metadata: Record<string, string>;
}

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase()]),
);

export function codeName(code: Code): string {
  return codeNames[code] ?? "unknown";
}

/** Reads code, reason and field from any error a client call threw. */
export function describeCloudError(err: unknown): CloudErrorDetails {
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const badRequest = e.findDetails(BadRequestSchema)[0];
  const metadata = { ...(info?.metadata ?? {}) };
  return {
    code: e.code,
    codeName: codeName(e.code),
    reason: info?.reason ?? reasonName(ErrorReason.UNKNOWN),
    field: metadata.field ?? badRequest?.fieldViolations[0]?.field,
    message: e.rawMessage,
    metadata,
  };
}

/** The stable reason of a failed call, e.g. "TOKEN_REVOKED". */
export function errorReason(err: unknown): string {
  return describeCloudError(err).reason;
}

/**
 * A call cut off by its connection (the server killed or restarted, a reset on the network)
 * reaches us from the transport as `aborted` (HTTP/1.1: ECONNRESET), `canceled` (HTTP/2: the
 * streams of a dead session end with RST_STREAM CANCEL) or `unknown`, none of which tells a
 * caller to try again. It is the server being unavailable, so that is what we report. Errors
 * the server sent carry an ErrorInfo and are kept, as are calls the caller itself cancelled
 * or timed out (`signal` aborted).
 */
export function connectionLossAsUnavailable(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return err;
  const e = ConnectError.from(err);
  if (e.code !== Code.Aborted && e.code !== Code.Canceled && e.code !== Code.Unknown) return err;
  if (e.findDetails(ErrorInfoSchema).length > 0) return err;
  return new ConnectError(
    `the connection to the server was lost (${e.rawMessage}); it may be restarting or unreachable: retry`,
    Code.Unavailable,
    e.metadata,
    undefined,
    err,
  );
}
