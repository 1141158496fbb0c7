import { randomUUID } from "node:crypto";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { isStorageReason } from "../errors/classify-storage-error.js";
import { toConnectError } from "../errors/to-connect-error.js";
import type { Logger } from "../log.js";
import { requestContextKey, type RequestContext } from "../tenancy/request-context.js";
import { remoteAddressKey } from "./remote-address.js";

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
    peer,
    userAgent: (header.get("user-agent") ?? "").slice(0, MAX_USER_AGENT),
  };
}

/** What a call's log line needs, gathered as it starts. */
export interface LoggedCall {
  ctx: RequestContext;
  /** "package.Service/Method" */
  method: string;
  protocol: string;
  /** performance.now() when the call arrived. */
  started: number;
}

/**
 * The one log line per call, with ids and codes only, never a credential or
 * a request body. Every path that serves RPCs writes it (the interceptor
 * below and the sync fast path), so they read the same in the log.
 */
export function logCallEnd(log: Logger, call: LoggedCall, err?: ConnectError): void {
  const fields = {
    request_id: call.ctx.requestId,
    method: call.method,
    protocol: call.protocol,
    code: err ? Code[err.code] : "OK",
    reason: err?.findDetails(ErrorInfoSchema)[0]?.reason,
    duration_ms: Math.round((performance.now() - call.started) * 100) / 100,
    tenant: call.ctx.tenant?.id,
    token_id: call.ctx.caller?.principalId,
  };
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
export function createRequestLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const call: LoggedCall = {
      ctx: newRequestContext(req.header, req.contextValues.get(remoteAddressKey)),
      method: `${req.service.typeName}/${req.method.name}`,
      protocol: protocolOf(req.header.get("content-type")),
      started: performance.now(),
    };
    const { ctx } = call;
    req.contextValues.get(claimCallLogKey)();
    req.contextValues.set(requestContextKey, ctx);
    const done = (err?: ConnectError) => logCallEnd(log, call, err);
    try {
      const res = await next(req);
      res.header.set("x-request-id", ctx.requestId);
      if (!res.stream) {
        done();
        return res;
      }
      const output = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* output;
            done();
          } catch (e) {
            const err = toConnectError(e);
            done(err);
            throw err;
          }
        })(),
      };
    } catch (e) {
      const err = toConnectError(e);
      err.metadata.set("x-request-id", ctx.requestId);
      done(err);
      throw err;
    }
  };
}
