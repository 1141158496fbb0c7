import { createHash, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { ServerMetrics } from "./server-metrics.js";

/** Whether an Authorization header carries exactly `token` as a bearer token, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? "");
  if (!m) return false;
  // Hashing first gives both sides one length, so the comparison says nothing about the token's length either.
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}

export interface MetricsListener {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * `GET /metrics` on an address of its own (ENGINE_CLOUD_METRICS_ADDR), for a
 * scraper on a private network: nothing else is served there, so the public
 * port's limits, interceptors and logs never see scrapes. With a token, only
 * requests bearing it are answered.
 */
export async function listenForMetrics(
  metrics: ServerMetrics,
  at: { host: string; port: number },
  token?: string,
): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
    } else if (token && !bearerMatches(req.headers.authorization, token)) {
      res.writeHead(401, { "content-type": "text/plain; charset=utf-8", "www-authenticate": "Bearer" }).end("unauthorized\n");
    } else {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" }).end(text),
        () => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics failed\n"),
      );
    }
  });
  // A scraper keeps one connection; nothing here is worth holding a socket open for long.
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: { host: address, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
