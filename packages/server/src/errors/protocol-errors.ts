import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason } from "@engine-cloud/api";
import { connectErrorWithReason } from "./to-connect-error.js";

/*
 * Requests the wire protocol layer refuses, before any service code sees them: a body that
 * is too big, compressed or cut short (transport/request-body-guard.ts), and the errors
 * connect-es raises itself while it reads, decodes and frames a request
 * (protocolErrorWithReason). Each gets the code and ErrorInfo reason a caller can act on.
 */

export function messageTooLarge(maxBytes: number): ConnectError {
  return connectErrorWithReason(
    Code.ResourceExhausted,
    ErrorReason.MESSAGE_TOO_LARGE,
    `the request message is larger than this server accepts (${maxBytes} bytes); send a smaller one`,
    { limit_bytes: String(maxBytes) },
  );
}

export function compressionRefused(what: string): ConnectError {
  return connectErrorWithReason(
    Code.Unimplemented,
    ErrorReason.COMPRESSION_UNSUPPORTED,
    `request compression is not accepted (got ${what.slice(0, 32)}); send the request uncompressed`,
  );
}

export function truncatedMessage(): ConnectError {
  return connectErrorWithReason(
    Code.InvalidArgument,
    ErrorReason.TRUNCATED_MESSAGE,
    "the request body ended inside a message; send each message whole",
  );
}

/** A request message that does not decode: `problem` says how, and what to send instead. */
export function malformedMessage(problem: string): ConnectError {
  return connectErrorWithReason(Code.InvalidArgument, ErrorReason.MALFORMED_MESSAGE, problem);
}

/** The caller's own bytes may come back in a library message (a JSON token, a header value): only so much of them. */
const MAX_QUOTED = 200;
const quoted = (text: string) => (text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);

/**
 * What connect-es 2.x says when it refuses a request, and what the caller is told instead.
 * The library raises these as bare ConnectErrors, without ErrorInfo, and classes a request
 * that is not valid protobuf binary as INTERNAL ("parse binary: …"), as if the server were
 * at fault. Matched on the library's messages (node_modules/@connectrpc/connect/dist/esm/
 * protocol*); test/protocol-errors.test.ts pins each one, so a library upgrade that changes
 * a message fails there rather than turning bad input back into INTERNAL.
 */
const LIBRARY_REFUSALS: Array<{ code: Code; pattern: RegExp; refuse: (match: RegExpExecArray) => ConnectError }> = [
  {
    code: Code.Internal,
    pattern: /^parse binary: ([^]*)$/,
    refuse: (m) =>
      malformedMessage(
        `the request message is not valid protobuf binary (${quoted(m[1])}); send a message encoded from the method's request type`,
      ),
  },
  {
    // The JSON codec: not JSON, a duplicate key, a value of the wrong type, a lone surrogate, an int out of range.
    code: Code.InvalidArgument,
    pattern: /^cannot decode [^]*$/,
    refuse: (m) =>
      malformedMessage(
        `the request message is not valid JSON for the method's request type (${quoted(m[0])}); send the request type in its protobuf JSON form`,
      ),
  },
  {
    code: Code.InvalidArgument,
    pattern: /^protocol error: invalid (connect|grpc) timeout value: ([^]*)$|^timeout \d+ms must be <= \d+$/,
    refuse: (m) =>
      connectErrorWithReason(
        Code.InvalidArgument,
        ErrorReason.BAD_TIMEOUT,
        m[1] === "grpc"
          ? `the grpc-timeout header "${quoted(m[2])}" is not a timeout; send up to 8 digits and a unit (H, M, S, m, u, n), e.g. 500m`
          : m[1] === "connect"
            ? `the connect-timeout-ms header "${quoted(m[2])}" is not a timeout; send a whole number of milliseconds (up to 10 digits)`
            : `the call's timeout is too long (${m[0]}); send a shorter one`,
      ),
  },
  {
    // Kept UNIMPLEMENTED: the gRPC status code table gives a request cardinality violation that code.
    code: Code.Unimplemented,
    pattern: /^protocol error: (missing|received extra) input message for ([a-z-]+) method$/,
    refuse: (m) =>
      connectErrorWithReason(
        Code.Unimplemented,
        ErrorReason.WRONG_MESSAGE_COUNT,
        `a ${m[2]} call takes exactly one request message and this one had ${m[1] === "missing" ? "none" : "more"}; send one`,
      ),
  },
  {
    code: Code.InvalidArgument,
    pattern: /^protocol error: (incomplete envelope|promised \d+ bytes, received \d+)$/,
    refuse: () => truncatedMessage(),
  },
  {
    code: Code.InvalidArgument,
    pattern: /^unexpected end flag$/,
    refuse: () =>
      connectErrorWithReason(
        Code.InvalidArgument,
        ErrorReason.MALFORMED_REQUEST,
        "a request message carried the end-of-stream flag; only the server ends a stream that way",
      ),
  },
  {
    // Body encodings are refused by the guard first; this is the Connect GET `compression` parameter.
    code: Code.Unimplemented,
    pattern: /^unknown compression "([^]*)": supported encodings are/,
    refuse: (m) => compressionRefused(`"${m[1]}"`),
  },
  {
    code: Code.Internal,
    pattern: /^received compressed envelope, but do not know how to decompress$/,
    refuse: () => compressionRefused("a compressed message"),
  },
  {
    // Messages the guard does not see: a Connect GET carries its message in the URL.
    code: Code.ResourceExhausted,
    pattern: /^message size (\d+ )?is larger than configured readMaxBytes (\d+)$/,
    refuse: (m) => messageTooLarge(Number(m[2])),
  },
];

/**
 * A ConnectError without an ErrorInfo (one raised by connect-es, not by our code) as the
 * caller should see it: a library refusal of bad input gets its own code and reason
 * (LIBRARY_REFUSALS); anything else keeps its code and gets the code's name as its reason.
 * Metadata (response headers the error asked for) is kept.
 */
export function protocolErrorWithReason(err: ConnectError): ConnectError {
  let mapped: ConnectError | undefined;
  for (const refusal of LIBRARY_REFUSALS) {
    if (refusal.code !== err.code) continue;
    const match = refusal.pattern.exec(err.rawMessage);
    if (!match) continue;
    mapped = refusal.refuse(match);
    break;
  }
  mapped ??= connectErrorWithReason(err.code, reasonOfCode(err.code), err.rawMessage);
  err.metadata.forEach((value, key) => mapped.metadata.append(key, value));
  mapped.cause = err;
  return mapped;
}

/** The reason named after the code: Code.InvalidArgument → INVALID_ARGUMENT. */
function reasonOfCode(code: Code): ErrorReason {
  switch (code) {
    case Code.Canceled:
      return ErrorReason.CANCELED;
    case Code.Unknown:
      return ErrorReason.UNKNOWN;
    case Code.InvalidArgument:
      return ErrorReason.INVALID_ARGUMENT;
    case Code.DeadlineExceeded:
      return ErrorReason.DEADLINE_EXCEEDED;
    case Code.NotFound:
      return ErrorReason.NOT_FOUND;
    case Code.AlreadyExists:
      return ErrorReason.ALREADY_EXISTS;
    case Code.PermissionDenied:
      return ErrorReason.PERMISSION_DENIED;
    case Code.ResourceExhausted:
      return ErrorReason.RESOURCE_EXHAUSTED;
    case Code.FailedPrecondition:
      return ErrorReason.FAILED_PRECONDITION;
    case Code.Aborted:
      return ErrorReason.ABORTED;
    case Code.OutOfRange:
      return ErrorReason.OUT_OF_RANGE;
    case Code.Unimplemented:
      return ErrorReason.UNIMPLEMENTED;
    case Code.Internal:
      return ErrorReason.INTERNAL;
    case Code.Unavailable:
      return ErrorReason.UNAVAILABLE;
    case Code.DataLoss:
      return ErrorReason.DATA_LOSS;
    case Code.Unauthenticated:
      return ErrorReason.UNAUTHENTICATED;
    default:
      // A code a later connect-es adds fails to compile here; at run time it is UNKNOWN, as before.
      code satisfies never;
      return ErrorReason.UNKNOWN;
  }
}
