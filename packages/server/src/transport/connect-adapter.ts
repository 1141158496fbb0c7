import * as http2 from "node:http2";
import { Code, ConnectError, createConnectRouter } from "@connectrpc/connect";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type connectNodeAdapter,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { Logger } from "../log.js";
import { guardRequestBody, leaveBodyChecksToGuard, requestBodyShapeOf, type RequestBodyLimits } from "./request-body-guard.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export interface ConnectAdapterOptions
  extends Pick<ConnectNodeAdapterOptions, "routes" | "contextValues" | "interceptors" | "fallback"> {
  limits: RequestBodyLimits;
  log: Logger;
}

/**
 * connect-node's `connectNodeAdapter`, with every request body read through the guard
 * (transport/request-body-guard.ts): bounded in size, uncompressed, and on time, refused
 * with a typed error in each protocol. Responses are not compressed either: they carry
 * secrets beside names a caller chooses, which is what length side channels (BREACH) feed
 * on, and the sync fast path never compressed.
 */
export function createConnectAdapter(options: ConnectAdapterOptions): NodeHandler {
  const router = createConnectRouter({
    interceptors: options.interceptors,
    acceptCompression: [],
    // The guard refuses first, with a reason; this is connect's own bound behind it.
    readMaxBytes: options.limits.maxMessageBytes,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = handlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      if (options.fallback) return options.fallback(req, res);
      res.writeHead(404);
      res.end();
      return;
    }
    // connect-node throws, outside any promise, for a request without an authority (HTTP/1.0
    // without Host, HTTP/2 without :authority): one such request would end the process.
    if (authorityOf(req) === undefined) {
      // HTTP/2 forbids connection headers; HTTP/1.0 closes after the response anyway.
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end("a Host header (HTTP/2: :authority) is required\n");
      return;
    }
    const request = universalRequestFromNodeRequest(req, res, undefined, options.contextValues?.(req));
    const shape = requestBodyShapeOf(request.header);
    leaveBodyChecksToGuard(request.header);
    request.body = guardRequestBody(req, shape, options.limits, () => stopReading(req, res));
    handler(request)
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((reason) => {
        // The client went away mid-response: nothing to tell it.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log.warn("writing a response failed", { method: handler.method.name, err: String(reason) });
      });
  };
}

function authorityOf(req: NodeRequest): string | undefined {
  return "authority" in req ? req.authority : req.headers.host;
}

/**
 * Once a body is refused the rest of it is unwanted. HTTP/2: after the error response the
 * stream is reset with NO_ERROR, which tells the client to stop sending (RFC 9113 §8.1).
 * HTTP/1.1 cannot say that: the rest is read and dropped, so the client can finish its
 * upload and read the error (closing on unread bytes would reset the connection under it);
 * a body that never ends is cut by the server's request timeout (transport/http-server.ts).
 */
function stopReading(req: NodeRequest, res: NodeResponse): void {
  if ("stream" in req) {
    const stream = req.stream;
    res.once("finish", () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
  } else {
    res.once("finish", () => req.resume());
  }
}
