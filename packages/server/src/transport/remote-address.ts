import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { createContextKey, createContextValues } from "@connectrpc/connect";

/** The peer address of the connection, for per-source login throttling. */
export const remoteAddressKey = createContextKey<string>("unknown");

/** The peer address of a request's connection, "unknown" once the socket is gone. */
export const peerOf = (req: IncomingMessage | Http2ServerRequest): string => req.socket?.remoteAddress ?? "unknown";

export function contextValuesOf(req: IncomingMessage | Http2ServerRequest) {
  return createContextValues().set(remoteAddressKey, peerOf(req));
}
