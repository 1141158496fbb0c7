import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createCloudClient as createClientOver, type CloudClient } from "./client.js";
import { cloudInterceptors, type CloudCallerOptions } from "./interceptors.js";

/** The wire protocols the server speaks on one port. */
export type CloudProtocol = "connect" | "grpc" | "grpc-web";

export interface CloudClientOptions extends CloudCallerOptions {
  /** Server URL, e.g. "http://127.0.0.1:7070". */
  baseUrl: string;
  /** Wire protocol; default "connect". gRPC always uses HTTP/2. */
  protocol?: CloudProtocol;
  /** HTTP version for Connect and gRPC-Web; default "2" for https, "1.1" otherwise. */
  httpVersion?: "1.1" | "2";
  /** Extra interceptors, run after the credential one. */
  interceptors?: Interceptor[];
  /** Use this transport instead of building one (tests, custom TLS). */
  transport?: Transport;
}

/** Builds the transport for a protocol (connect-node); one HTTP/2 session is shared by all clients of it. */
export function createCloudTransport(options: CloudClientOptions): Transport {
  if (options.transport) return options.transport;
  const interceptors = cloudInterceptors(options, options.interceptors);
  const secure = options.baseUrl.startsWith("https:");
  const httpVersion = options.httpVersion ?? (secure ? "2" : "1.1");
  switch (options.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport({ baseUrl: options.baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: options.baseUrl, httpVersion, interceptors });
    case "connect":
      return createConnectTransport({ baseUrl: options.baseUrl, httpVersion, interceptors });
  }
}

/** The root's createCloudClient, which in Node also builds its transport from a baseUrl. */
export function createCloudClient(options: CloudClientOptions | { transport: Transport }): CloudClient {
  const transport = "baseUrl" in options ? createCloudTransport(options) : options.transport;
  return createClientOver({ transport });
}
