import { DomainError } from "../errors/domain-error.js";
import { compressionRefused, messageTooLarge, truncatedMessage } from "../errors/protocol-errors.js";
import { toConnectError } from "../errors/to-connect-error.js";
import { bodyWithin } from "./request-body-deadline.js";

/** How much of a request body the server will take, and how long it will wait for it. */
export interface RequestBodyLimits {
  /** Largest message, in bytes (the payload of one envelope, or a whole unenveloped body). */
  maxMessageBytes: number;
  /** The body must have ended this long after the guard started reading it; 0: no limit. */
  bodyTimeoutMs: number;
}

/** What the guard reads from the request's headers. */
export interface RequestBodyShape {
  /** gRPC, gRPC-Web and Connect streaming bodies are length-prefixed envelopes; Connect unary bodies are the message. */
  enveloped: boolean;
  /** A content or message encoding the client declared ("identity" and absent mean none). */
  encoding: string | undefined;
  /** The declared content-length, if any. */
  declaredLength: number | undefined;
}

// Where each protocol names a request's encoding: gRPC and gRPC-Web, Connect streaming, Connect unary.
const ENCODING_HEADERS = ["grpc-encoding", "connect-content-encoding", "content-encoding"];

/** The shape of a request body, from the request's headers. */
export function requestBodyShapeOf(header: Headers): RequestBodyShape {
  const contentType = header.get("content-type") ?? "";
  const length = header.get("content-length");
  return {
    enveloped: contentType.startsWith("application/grpc") || contentType.startsWith("application/connect+"),
    encoding: ENCODING_HEADERS.map((name) => header.get(name)).find((v): v is string => v !== null && v !== "identity"),
    declaredLength: length !== null && /^\d{1,15}$/.test(length) ? Number(length) : undefined,
  };
}

/**
 * Takes the encoding and length headers out of `header` once the guard has read them, so
 * that connect-es reads the body and meets the guard's refusal, which has a reason, instead
 * of refusing an encoding or an oversized content-length itself without one.
 */
export function leaveBodyChecksToGuard(header: Headers): void {
  for (const name of [...ENCODING_HEADERS, "content-length"]) header.delete(name);
}

// Envelope header: one flag byte, then the payload length as a 4-byte big-endian integer.
const ENVELOPE_HEADER_BYTES = 5;
const COMPRESSED_FLAG = 0x01;

/**
 * Passes a request body through unchanged, or fails it with a typed error as soon as it
 * breaks a limit: before a byte of an oversized message is buffered (the envelope's length
 * prefix or the content-length is enough), before a compressed body is decoded (request
 * compression is refused outright: requests are small, and a few kilobytes of gzip can
 * decode to gigabytes), and when the body is still incomplete at the deadline.
 *
 * The errors carry an ErrorInfo reason, because connect-es serialises an error thrown
 * from the body as it is, in every protocol.
 */
export async function* guardRequestBody(
  body: AsyncIterable<Uint8Array>,
  shape: RequestBodyShape,
  limits: RequestBodyLimits,
  /** Called when the body is refused, before the error is thrown (the caller may stop reading the rest). */
  onRefused?: () => void,
): AsyncGenerator<Uint8Array> {
  try {
    if (shape.encoding !== undefined && shape.encoding !== "identity") throw compressionRefused(shape.encoding);
    if (shape.declaredLength !== undefined && shape.declaredLength > bodyLimitOf(shape, limits)) {
      throw messageTooLarge(limits.maxMessageBytes);
    }
    const check = shape.enveloped ? envelopeScanner(limits.maxMessageBytes) : byteCounter(limits.maxMessageBytes);
    for await (const chunk of limits.bodyTimeoutMs > 0 ? bodyWithin(body, limits.bodyTimeoutMs) : body) {
      check.chunk(chunk);
      yield chunk;
    }
    check.end();
  } catch (err) {
    onRefused?.();
    // connect-es sends an error thrown from the body as it is: it must already carry its code and reason.
    throw err instanceof DomainError ? toConnectError(err) : err;
  }
}

/** The most bytes a body may declare: one message, plus its envelope header. */
function bodyLimitOf(shape: RequestBodyShape, limits: RequestBodyLimits): number {
  return limits.maxMessageBytes + (shape.enveloped ? ENVELOPE_HEADER_BYTES : 0);
}

interface BodyCheck {
  chunk(bytes: Uint8Array): void;
  end(): void;
}

function byteCounter(maxBytes: number): BodyCheck {
  let total = 0;
  return {
    chunk(bytes) {
      total += bytes.byteLength;
      if (total > maxBytes) throw messageTooLarge(maxBytes);
    },
    end() {},
  };
}

/** Follows the envelope boundaries across chunks, reading only each 5-byte header. */
function envelopeScanner(maxBytes: number): BodyCheck {
  const header = new Uint8Array(ENVELOPE_HEADER_BYTES);
  let headerFilled = 0;
  let payloadLeft = 0;
  return {
    chunk(bytes) {
      let at = 0;
      while (at < bytes.byteLength) {
        if (payloadLeft > 0) {
          const skipped = Math.min(payloadLeft, bytes.byteLength - at);
          payloadLeft -= skipped;
          at += skipped;
          continue;
        }
        const taken = Math.min(ENVELOPE_HEADER_BYTES - headerFilled, bytes.byteLength - at);
        header.set(bytes.subarray(at, at + taken), headerFilled);
        headerFilled += taken;
        at += taken;
        if (headerFilled < ENVELOPE_HEADER_BYTES) continue;
        headerFilled = 0;
        if (header[0] & COMPRESSED_FLAG) throw compressionRefused("a compressed message");
        payloadLeft = new DataView(header.buffer).getUint32(1);
        if (payloadLeft > maxBytes) throw messageTooLarge(maxBytes);
      }
    },
    end() {
      if (headerFilled > 0 || payloadLeft > 0) {
        throw truncatedMessage();
      }
    },
  };
}
