import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { cloudInterceptors, type CloudCallerOptions } from "./interceptors.js";

export interface CloudWebTransportOptions extends CloudCallerOptions {
  /** Server URL, e.g. "https://cloud.example.com"; "/" for the page's own origin. */
  baseUrl: string;
  /** Wire protocol; default "connect". A browser's fetch cannot speak gRPC. */
  protocol?: "connect" | "grpc-web";
  /** Extra interceptors, run after the credential one. */
  interceptors?: Interceptor[];
  /** The fetch to use, e.g. one that sets `credentials`; default globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
}

/** A fetch-based transport (connect-web): what a browser, a worker or an edge runtime talks through. */
export function createCloudWebTransport(options: CloudWebTransportOptions): Transport {
  const settings = {
    baseUrl: options.baseUrl,
    interceptors: cloudInterceptors(options, options.interceptors),
    fetch: options.fetch,
  };
  return options.protocol === "grpc-web" ? createGrpcWebTransport(settings) : createConnectTransport(settings);
}
