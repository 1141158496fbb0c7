import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { createContextKey, createContextValues } from "@connectrpc/connect";

/** The peer address of the connection, for per-source login throttling. */
export const remoteAddressKey = createContextKey<string>("unknown");

/** The peer address of a request's connection, "unknown" once the socket is gone. */
export const peerOf = (req: IncomingMessage | Http2ServerRequest): string => req.socket?.remoteAddress ?? "unknown";

/** The host the request was sent to (Host, or HTTP/2's :authority), as sent: the server's own origin without a public URL. */
export const requestHostKey = createContextKey<string | undefined>(undefined);

/** The Host header of a request, or its HTTP/2 :authority. */
export const hostOf = (req: IncomingMessage | Http2ServerRequest): string | undefined => {
  const host = req.headers.host ?? req.headers[":authority"];
  return typeof host === "string" ? host : undefined;
};

export function contextValuesOf(req: IncomingMessage | Http2ServerRequest) {
  return createContextValues().set(remoteAddressKey, peerOf(req)).set(requestHostKey, hostOf(req));
}
