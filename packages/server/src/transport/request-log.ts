import { randomBytes, randomUUID } from "node:crypto";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { isStorageReason } from "../errors/classify-storage-error.js";
import { toConnectError } from "../errors/to-connect-error.js";
import type { Logger } from "../log.js";
import { recordCall, type ServerMetrics } from "../metrics/server-metrics.js";
import { actorLabelOf } from "../auth/caller.js";
import { requestContextKey, type RequestContext } from "../tenancy/request-context.js";
import { remoteAddressKey, requestHostKey } from "./remote-address.js";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function protocolOf(contentType: string | null): string {
  if (!contentType) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** Longest user agent kept: enough to name a client and its version, not a place to smuggle a payload into logs. */
const MAX_USER_AGENT = 256;

/**
 * A new call's context: the client's x-request-id when it is a sane one, else
 * a fresh id; the peer address of the connection; the user agent as sent
 * (truncated). What an audit event will record of the request.
 */
export function newRequestContext(header: Headers, peer: string): RequestContext {
  const given = header.get("x-request-id");
  return {
    requestId: given && REQUEST_ID.test(given) ? given : randomUUID(),
    traceId: traceIdOf(header.get("traceparent")) ?? randomBytes(16).toString("hex"),
    peer,
    userAgent: (header.get("user-agent") ?? "").slice(0, MAX_USER_AGENT),
  };
}

// W3C Trace Context: version-traceid-parentid-flags; an all-zero trace or parent id is invalid (§3.2.2.3, §3.2.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/;

/** The trace id of a well-formed `traceparent` header, or undefined (then the call starts a trace of its own). */
export function traceIdOf(traceparent: string | null): string | undefined {
  const m = TRACEPARENT.exec(traceparent?.trim() ?? "");
  if (!m || m[1] === "ff" || (m[1] === "00" && m[4] !== undefined)) return undefined;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return m[2];
}

/**
 * The headers every answer carries to correlate it with the server's log: the request id, and the trace it
 * joined as a W3C `traceresponse` (Trace Context Level 2) naming this call as a span of its own.
 */
export function correlationHeaders(ctx: RequestContext): Record<string, string> {
  const headers: Record<string, string> = { "x-request-id": ctx.requestId };
  if (ctx.traceId) headers.traceresponse = `00-${ctx.traceId}-${randomBytes(8).toString("hex")}-01`;
  return headers;
}

/** What a call's log line needs, gathered as it starts. */
export interface LoggedCall {
  ctx: RequestContext;
  /** "package.Service/Method" */
  method: string;
  protocol: string;
  /** performance.now() when the call arrived. */
  started: number;
  /** A plain HTTP request's route ("/readyz"), for metrics; absent when the path matched none. */
  route?: string;
  /** Set once the call became an open server stream (it is counted in the open-streams gauge until it ends). */
  stream?: boolean;
}

/** Where a finished call is reported: its log line and its metrics. */
export interface CallRecorder {
  log: Logger;
  metrics: ServerMetrics;
}

/** A call turned into an open server stream: counted until logCallEnd sees it end. */
export function streamOpened(metrics: ServerMetrics, call: LoggedCall): void {
  if (call.stream) return;
  call.stream = true;
  metrics.openStreams.inc({ protocol: call.protocol });
}

/**
 * The one log line per call, with ids and codes only, never a credential or
 * a request body. Every path that serves RPCs writes it (the interceptor
 * below and the sync fast path), so they read the same in the log.
 */
export function logCallEnd({ log, metrics }: CallRecorder, call: LoggedCall, err?: ConnectError): void {
  const seconds = (performance.now() - call.started) / 1000;
  const fields = {
    request_id: call.ctx.requestId,
    trace_id: call.ctx.traceId,
    method: call.method,
    protocol: call.protocol,
    code: err ? Code[err.code] : "OK",
    reason: err?.findDetails(ErrorInfoSchema)[0]?.reason,
    duration_ms: Math.round(seconds * 100_000) / 100,
    tenant: call.ctx.tenant?.id,
    token_id: call.ctx.caller?.principalId,
    // "token:<id>" or "user:<id>": who acted, as the rows and the audit trail record it.
    actor: call.ctx.caller && actorLabelOf(call.ctx.caller),
  };
  // Plain HTTP paths are the caller's: only a route's own name becomes a label.
  const [service, method] = call.protocol === "http" ? ["http", call.route ?? "unmatched"] : call.method.split("/", 2);
  recordCall(metrics, { service, method, code: fields.code, reason: fields.reason, seconds, stream: Boolean(call.stream) });
  if (call.stream) metrics.openStreams.dec({ protocol: call.protocol });
  if (err?.code === Code.Internal) log.error("rpc failed", { ...fields, cause: String(err.cause) });
  // The caller sees only the reason; the operator needs the database's own words.
  else if (isStorageReason(fields.reason)) log.warn("rpc failed: database", { ...fields, cause: String(err?.cause) });
  else log.info("rpc", fields);
}

/** Called as the interceptor below takes a call, so that call is not logged again (unclaimed-request-log.ts). */
export const claimCallLogKey = createContextKey<() => void>(() => {});

/**
 * Outermost interceptor: gives the call a request id, maps every failure to
 * its wire form (errors/to-connect-error.ts), and logs the call's end.
 */
export function createRequestLogInterceptor(recorder: CallRecorder): Interceptor {
  return (next) => async (req) => {
    const call: LoggedCall = {
      ctx: newRequestContext(req.header, req.contextValues.get(remoteAddressKey)),
      method: `${req.service.typeName}/${req.method.name}`,
      protocol: protocolOf(req.header.get("content-type")),
      started: performance.now(),
    };
    const { ctx } = call;
    ctx.host = req.contextValues.get(requestHostKey);
    req.contextValues.get(claimCallLogKey)();
    req.contextValues.set(requestContextKey, ctx);
    const done = (err?: ConnectError) => logCallEnd(recorder, call, err);
    try {
      const res = await next(req);
      for (const [k, v] of Object.entries(correlationHeaders(ctx))) res.header.set(k, v);
      if (!res.stream) {
        done();
        return res;
      }
      const output = res.message;
      streamOpened(recorder.metrics, call);
      return {
        ...res,
        message: (async function* () {
          let ended = false;
          try {
            yield* output;
            ended = true;
            done();
          } catch (e) {
            ended = true;
            const err = toConnectError(e);
            done(err);
            throw err;
          } finally {
            // Returned early: the client went away mid-stream. Logged as the fast path logs it, and uncounted.
            if (!ended) done(toConnectError(new ConnectError("the client closed the stream", Code.Canceled)));
          }
        })(),
      };
    } catch (e) {
      const err = toConnectError(e);
      for (const [k, v] of Object.entries(correlationHeaders(ctx))) err.metadata.set(k, v);
      done(err);
      throw err;
    }
  };
}
