import { Code, type ContextValues } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { errorForLogOnly } from "../errors/to-connect-error.js";
import { claimCallLogKey, logCallEnd, newRequestContext, protocolOf, type CallRecorder } from "./request-log.js";
import { peerOf } from "./remote-address.js";
import { toFetchHeaders } from "./stream-framing.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];

/**
 * What Connect answers by itself on an RPC path, before any interceptor
 * runs: another HTTP method (405), an unknown content type (415), a Connect
 * unary body that does not decode or a bad timeout header (a Connect error,
 * its HTTP status; over gRPC a 200 with the status in trailers).
 */
const CODE_OF_STATUS: Record<number, Code> = {
  400: Code.InvalidArgument,
  405: Code.Unimplemented,
  408: Code.DeadlineExceeded,
  413: Code.ResourceExhausted,
  415: Code.Unimplemented,
  500: Code.Internal,
  501: Code.Unimplemented,
};

/**
 * Gives the requests the Connect adapter answers without running the
 * interceptors the same one log line as every other request (request-log.ts),
 * so a scan of the RPC paths shows in the log like a scan of unknown paths
 * does (http-routes.ts). `contextValues` is the adapter's option (it runs for
 * every request routed to an RPC); `wrap` goes around the adapter.
 */
export function createUnclaimedRequestLog(recorder: CallRecorder, base: (req: NodeRequest) => ContextValues) {
  const routed = new WeakMap<NodeRequest, { claimed: boolean }>();
  return {
    contextValues(req: NodeRequest): ContextValues {
      const entry = { claimed: false };
      routed.set(req, entry);
      return base(req).set(claimCallLogKey, () => (entry.claimed = true));
    },
    wrap(handler: NodeHandler): NodeHandler {
      return (req, res) => {
        const started = performance.now();
        res.once("close", () => {
          const entry = routed.get(req);
          if (!entry || entry.claimed) return;
          const header = toFetchHeaders(req.headers);
          const status = res.statusCode;
          const code = CODE_OF_STATUS[status] ?? Code.Unknown;
          logCallEnd(
            recorder,
            {
              ctx: newRequestContext(header, peerOf(req)),
              // Routed, so the path is a method's: "/package.Service/Method".
              method: (req.url ?? "").split("?", 1)[0].slice(1),
              protocol: protocolOf(header.get("content-type")),
              started,
            },
            // gRPC and gRPC-Web answer 200 and put the code in trailers this wrapper does not read.
            errorForLogOnly(code, status === 200 ? "PROTOCOL_ERROR" : `HTTP_${status}`, "answered by the protocol layer"),
          );
        });
        return handler(req, res);
      };
    },
  };
}
