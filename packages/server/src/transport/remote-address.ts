import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { createContextKey, createContextValues } from "@connectrpc/connect";

/** The peer address of the connection, for per-source login throttling. */
export const remoteAddressKey = createContextKey<string>("unknown");

export function contextValuesOf(req: IncomingMessage | Http2ServerRequest) {
  return createContextValues().set(remoteAddressKey, req.socket?.remoteAddress ?? "unknown");
}
