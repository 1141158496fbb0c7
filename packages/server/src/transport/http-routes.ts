import { Code, type ConnectError } from "@connectrpc/connect";
import { bearerMatches } from "../metrics/metrics-listener.js";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { errorForLogOnly } from "../errors/to-connect-error.js";
import { classifyStorageError } from "../errors/classify-storage-error.js";
import { DomainError } from "../errors/domain-error.js";
import { CALLBACK_PATH, type CallbackOutcome } from "../hub/connect-flow.js";
import type { Logger } from "../log.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import { correlationHeaders, logCallEnd, newRequestContext, type LoggedCall } from "./request-log.js";
import { peerOf } from "./remote-address.js";
import { toFetchHeaders } from "./stream-framing.js";
import { callbackPage } from "./oauth-callback-route.js";
import type { RuntimeRestRoutes } from "./runtime-rest-routes.js";
import type { ConsoleRoute } from "./console-route.js";

type Fallback = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;
type NodeResponse = Parameters<Fallback>[1];

const MAX_LOGGED_PATH = 200;

export interface HttpRoutesDeps {
  log: Logger;
  metrics: ServerMetrics;
  /**
   * GET /metrics on this port (Prometheus text), when the operator set ENGINE_CLOUD_METRICS_TOKEN: only a request
   * bearing that token is answered. Absent: /metrics is a 404 here (it may be served on its own listener).
   */
  metricsToken?: string;
  /** Why the server should get no traffic now, or undefined when it is ready (transport/readiness.ts). */
  notReadyBecause(): string | undefined;
  /** Completes a connect flow from the provider's redirect (hub/connect-flow.ts). */
  completeConnect?(query: URLSearchParams): Promise<CallbackOutcome>;
  /** The runtime REST routes (/v1/credentials…, /health), answered through the RPCs (transport/runtime-rest-routes.ts). */
  runtimeRest?: RuntimeRestRoutes;
  /** The web console's static files, `/` and `/console/…` (transport/console-route.ts). */
  console?: ConsoleRoute;
}

/**
 * The plain HTTP endpoints beside the RPCs, for load balancers and
 * orchestrators; every path no RPC claims ends here (the Connect adapter's
 * fallback). `/healthz` is liveness: the process is up and answering.
 * `/readyz` is readiness: the database and the change feed are reachable
 * and the server is not draining. Anything else is a plain-text 404 that
 * names nothing of the server. `/oauth/callback` is where a provider sends
 * the browser back in a connect flow; its query (code, state) is never logged.
 * Each request gets the same log line as an RPC.
 */
export function createHttpRoutes(deps: HttpRoutesDeps): Fallback {
  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    const call: LoggedCall = {
      ctx: newRequestContext(toFetchHeaders(req.headers), peerOf(req)),
      // The path is the caller's: logged, but never more of it than a real route needs.
      method: `${req.method ?? "GET"} ${path.slice(0, MAX_LOGGED_PATH)}`,
      protocol: "http",
      started: performance.now(),
    };
    const answer = (status: number, body: string | Buffer, err?: ConnectError, headers?: Record<string, string>) => {
      reply(res, status, body, correlationHeaders(call.ctx), req.method === "HEAD", headers);
      logCallEnd(deps, call, err);
    };
    const readable = req.method === "GET" || req.method === "HEAD";
    if (readable && KNOWN_ROUTES.has(path)) call.route = path;
    if (readable && path === "/healthz") return answer(200, "ok\n");
    if (req.method === "GET" && path === METRICS_PATH && deps.metricsToken) {
      if (!bearerMatches(req.headers.authorization, deps.metricsToken)) {
        return answer(401, "unauthorized\n", errorForLogOnly(Code.Unauthenticated, "METRICS_TOKEN", "wrong or missing token"), {
          "www-authenticate": "Bearer",
        });
      }
      return void deps.metrics.registry
        .metrics()
        .then((text) => answer(200, text, undefined, { "content-type": deps.metrics.registry.contentType }));
    }
    if (readable && path === "/readyz") {
      const problem = deps.notReadyBecause();
      if (!problem) return answer(200, "ready\n");
      return answer(503, `not ready: ${problem}\n`, errorForLogOnly(Code.Unavailable, "NOT_READY", problem));
    }
    // GET only: a HEAD must not spend the one exchange a code allows.
    if (req.method === "GET" && path === CALLBACK_PATH && deps.completeConnect) {
      call.route = CALLBACK_PATH;
      const query = new URL(req.url ?? "", "http://callback").searchParams;
      return void deps.completeConnect(query).then(
        (outcome) => {
          const page = callbackPage(outcome);
          const err = page.status >= 400 ? errorForLogOnly(Code.FailedPrecondition, "CONNECT_FAILED", outcome.title) : undefined;
          answer(page.status, page.body, err, page.headers);
        },
        (cause: unknown) => {
          deps.log.error("oauth callback failed", { error: String(cause) });
          // The database down (or the audit log refusing): an honest 503, nothing was stored.
          const classified = classifyStorageError(cause) ?? cause;
          const unavailable = classified instanceof DomainError && classified.kind === "unavailable";
          const page = callbackPage({
            status: unavailable ? 503 : 500,
            title: "Connection failed",
            detail: unavailable
              ? "The server could not reach its database just now. Start the connection again in a moment."
              : "Something went wrong on our side. Start the connection again.",
          });
          const err = unavailable
            ? errorForLogOnly(Code.Unavailable, "UNAVAILABLE", "callback failed: storage unavailable")
            : errorForLogOnly(Code.Internal, "INTERNAL", "callback failed");
          answer(page.status, page.body, err, page.headers);
        },
      );
    }
    const page = deps.console?.(req.method ?? "GET", path);
    if (page) {
      return void page.then(
        (a) => {
          call.route = a.route;
          const err =
            a.status === 404
              ? errorForLogOnly(Code.NotFound, "NOT_FOUND", "no such console file")
              : a.status >= 400
                ? errorForLogOnly(Code.Unavailable, "CONSOLE_NOT_BUILT", "the console directory has no index.html")
                : undefined;
          answer(a.status, a.body, err, a.headers);
        },
        (cause: unknown) => {
          deps.log.error("console route failed", { error: String(cause) });
          answer(500, "internal error\n", errorForLogOnly(Code.Internal, "INTERNAL", "console route failed"));
        },
      );
    }
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    const rest = deps.runtimeRest?.(req, path, call.ctx.requestId, gone.signal);
    if (rest) {
      const json = { "content-type": "application/json; charset=utf-8" };
      return void rest.then(
        (a) => answer(a.status, `${JSON.stringify(a.body)}\n`, a.err, { ...json, ...a.headers }),
        (cause: unknown) => {
          deps.log.error("runtime REST route failed", { error: String(cause) });
          const body = JSON.stringify({ error: "internal", message: "the server failed; try again" });
          answer(500, `${body}\n`, errorForLogOnly(Code.Internal, "INTERNAL", "REST route failed"), json);
        },
      );
    }
    answer(404, "not found\n", errorForLogOnly(Code.NotFound, "NOT_FOUND", "no such path"));
  };
}

const METRICS_PATH = "/metrics";
/** Paths that name a route in metrics; any other path is "unmatched" there (the caller chose it). */
const KNOWN_ROUTES = new Set(["/healthz", "/readyz", METRICS_PATH]);

function reply(
  res: NodeResponse,
  status: number,
  body: string | Buffer,
  correlation: Record<string, string>,
  headOnly: boolean,
  headers?: Record<string, string>,
) {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    // Nothing here may be stored, unless a route says otherwise (the console's hashed assets).
    "cache-control": "no-store",
    ...headers,
    "content-length": Buffer.byteLength(body),
    ...correlation,
  });
  if (headOnly) res.end();
  else res.end(body);
}
