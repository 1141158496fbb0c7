import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@engine-cloud/sdk/gen/google/rpc/error_details_pb.js";
import { toConnectError } from "../errors/to-connect-error.js";
import type { Logger } from "../log.js";
import { requestContextKey, type RequestContext } from "../tenancy/request-context.js";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function protocolOf(contentType: string | null): string {
  if (!contentType) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/**
 * Outermost interceptor: gives the call a request id, maps every failure to
 * its wire form (errors/to-connect-error.ts), and writes one log line per
 * call with ids and codes only, never a credential or a request body.
 */
export function createRequestLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const given = req.header.get("x-request-id");
    const ctx: RequestContext = { requestId: given && REQUEST_ID.test(given) ? given : randomUUID() };
    req.contextValues.set(requestContextKey, ctx);
    const method = `${req.service.typeName}/${req.method.name}`;
    const done = (err?: ConnectError) => {
      const fields = {
        request_id: ctx.requestId,
        method,
        protocol: protocolOf(req.header.get("content-type")),
        code: err ? Code[err.code] : "OK",
        reason: err?.findDetails(ErrorInfoSchema)[0]?.reason,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        tenant: ctx.tenant?.id,
        token_id: ctx.caller?.principalId,
      };
      if (err?.code === Code.Internal) log.error("rpc failed", { ...fields, cause: String(err.cause) });
      else log.info("rpc", fields);
    };
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
