import type { IncomingHttpHeaders } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope, transformSplitEnvelope } from "@connectrpc/connect/protocol";
import {
  contentTypeStreamProto,
  endStreamFlag,
  endStreamToJson,
  headerTimeout as headerConnectTimeout,
  parseContentType as parseConnectContentType,
} from "@connectrpc/connect/protocol-connect";
import {
  contentTypeProto as contentTypeGrpcProto,
  headerTimeout as headerGrpcTimeout,
  parseContentType as parseGrpcContentType,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import {
  contentTypeProto as contentTypeGrpcWebProto,
  parseContentType as parseGrpcWebContentType,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import { guardRequestBody, requestBodyShapeOf } from "./request-body-guard.js";

/**
 * The three wire protocols of a server stream, in their binary codec. They
 * share the data frame (flag byte 0, 4-byte big-endian length, message) and
 * differ in how the stream ends: gRPC in HTTP/2 trailers, gRPC-Web in a
 * trailer frame (flag 0x80), Connect in an end-stream frame (flag 0x02).
 */
export type StreamProtocol = "grpc" | "grpc-web" | "connect";

/**
 * The protocol of a binary streaming request, or undefined for anything else
 * (JSON codecs, gRPC-Web text, unary Connect), which the generic handler serves.
 * gRPC needs HTTP/2 trailers, so gRPC over HTTP/1.1 is left to it as well.
 */
export function binaryStreamProtocolOf(contentType: string | undefined, httpVersionMajor: number): StreamProtocol | undefined {
  if (!contentType) return undefined;
  if (contentType.startsWith("application/grpc-web")) {
    const t = parseGrpcWebContentType(contentType);
    return t?.binary && !t.text ? "grpc-web" : undefined;
  }
  if (contentType.startsWith("application/grpc")) {
    return parseGrpcContentType(contentType)?.binary && httpVersionMajor >= 2 ? "grpc" : undefined;
  }
  const t = parseConnectContentType(contentType);
  return t?.stream && t.binary ? "connect" : undefined;
}

/** Whether the client set a deadline on the call (the generic handler enforces those). */
export function hasDeadline(protocol: StreamProtocol, headers: IncomingHttpHeaders): boolean {
  return headers[(protocol === "connect" ? headerConnectTimeout : headerGrpcTimeout).toLowerCase()] !== undefined;
}

export function responseContentType(protocol: StreamProtocol): string {
  switch (protocol) {
    case "grpc":
      return contentTypeGrpcProto;
    case "grpc-web":
      return contentTypeGrpcWebProto;
    case "connect":
      return contentTypeStreamProto;
  }
}

/**
 * Reads the one request message of a server-streaming call (still encoded): exactly one
 * enveloped message, at most `maxBytes`, uncompressed. The body goes through the same
 * guard as every other request (transport/request-body-guard.ts): an oversized length
 * prefix, a declared encoding or a compressed envelope is refused before anything is
 * buffered or decoded. Otherwise fails as connect-es's own handlers do (same codes and
 * messages).
 */
export async function readSingleMessage(
  body: AsyncIterable<Uint8Array>,
  protocol: StreamProtocol,
  header: Headers,
  maxBytes: number,
): Promise<Uint8Array> {
  const guarded = guardRequestBody(body, requestBodyShapeOf(header), { maxMessageBytes: maxBytes, bodyTimeoutMs: 0 });
  let message: Uint8Array | undefined;
  for await (const envelope of transformSplitEnvelope(maxBytes)(guarded)) {
    if (message) {
      throw new ConnectError("protocol error: received extra input message for server-streaming method", Code.Unimplemented);
    }
    message = envelope.data;
  }
  if (!message) {
    throw new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
  }
  return message;
}

/** How a stream ends on the wire: trailers (gRPC) or a last frame in the body (gRPC-Web, Connect). */
export type StreamEnd = { trailers: Record<string, string> } | { frame: Uint8Array };

/**
 * The end of a stream, `error` undefined for success. Serialised by
 * connect-es's own helpers, so clients read exactly what the generic handler
 * would send: the status, the message and (for gRPC and gRPC-Web) a
 * grpc-status-details-bin google.rpc.Status carrying the ErrorInfo detail.
 */
export function streamEnd(protocol: StreamProtocol, error: ConnectError | undefined): StreamEnd {
  switch (protocol) {
    case "grpc": {
      const trailers: Record<string, string> = {};
      setTrailerStatus(new Headers(), error).forEach((value, key) => (trailers[key] = value));
      return { trailers };
    }
    case "grpc-web":
      return { frame: encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error))) };
    case "connect": {
      const json = JSON.stringify(endStreamToJson(new Headers(), error, undefined));
      return { frame: encodeEnvelope(endStreamFlag, new TextEncoder().encode(json)) };
    }
  }
}

/** Node's request headers as fetch Headers (pseudo-headers dropped), for code shared with the connect path. */
export function toFetchHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}
