import * as http2 from "node:http2";
import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
  create,
} from "@bufbuild/protobuf";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type connectNodeAdapter,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { Logger } from "../log.js";
import { malformedGetResponse, withProtocolErrorReason } from "./protocol-error-response.js";
import { guardRequestBody, leaveBodyChecksToGuard, requestBodyShapeOf, type RequestBodyLimits } from "./request-body-guard.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export interface ConnectAdapterOptions extends Pick<
  ConnectNodeAdapterOptions,
  "routes" | "contextValues" | "interceptors" | "fallback"
> {
  limits: RequestBodyLimits;
  log: Logger;
}

/**
 * Calls a unary RPC in this process, exactly as a Connect client's request would be served: the
 * same router handler and so the same interceptors (request log, access check with its identity
 * resolution and rate limits, validation), with `header` as the request's headers (the caller's
 * authorization among them) and the peer of `req`. Resolves to the response message; rejects
 * with the RPC's ConnectError. The REST routes (transport/runtime-rest-routes.ts) are built on it.
 */
export type CallUnary = <I extends DescMessage, O extends DescMessage>(
  req: NodeRequest,
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
  header: Headers,
  /** Aborted when the caller has gone (the REST response closed): the call's transaction then rolls back. */
  signal: AbortSignal,
) => Promise<MessageShape<O>>;

export type ConnectAdapter = NodeHandler & { callUnary: CallUnary };

/**
 * connect-node's `connectNodeAdapter`, with every request body read through the guard
 * (transport/request-body-guard.ts): bounded in size, uncompressed, and on time, refused
 * with a typed error in each protocol. Responses are not compressed either: they carry
 * secrets beside names a caller chooses, which is what length side channels (BREACH) feed
 * on, and the sync fast path never compressed.
 */
export function createConnectAdapter(options: ConnectAdapterOptions): ConnectAdapter {
  const router = createConnectRouter({
    interceptors: [markInterceptorsReached, ...(options.interceptors ?? [])],
    acceptCompression: [],
    // The guard refuses first, with a reason; this is connect's own bound behind it.
    readMaxBytes: options.limits.maxMessageBytes,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const callUnary: CallUnary = async (req, method, input, header, signal) => {
    const handler = handlers.get(`/${method.parent.typeName}/${method.name}`);
    if (!handler) throw new ConnectError(`${method.name} is not served`, Code.Unimplemented);
    const inner = new Headers(header);
    inner.set("content-type", "application/proto");
    inner.set("connect-protocol-version", "1");
    const bytes = toBinary(method.input, create(method.input, input));
    const response = await handler({
      httpVersion: "1.1",
      url: `http://in-process${handler.requestPath}`,
      method: "POST",
      header: inner,
      body: (async function* () {
        yield bytes;
      })(),
      signal,
      contextValues: options.contextValues?.(req) ?? createContextValues(),
    });
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body ?? []) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (response.status === 200) return fromBinary(method.output, body);
    throw errorFromJsonBytes(body, response.header, new ConnectError(`HTTP ${response.status}`, Code.Unknown));
  };
  const nodeHandler: NodeHandler = (req, res) => {
    const handler = handlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      if (options.fallback) return options.fallback(req, res);
      res.writeHead(404);
      res.end();
      return;
    }
    const values = options.contextValues?.(req) ?? createContextValues();
    let request: ReturnType<typeof universalRequestFromNodeRequest>;
    try {
      request = universalRequestFromNodeRequest(req, res, undefined, values);
    } catch {
      // connect-node throws, outside any promise, for a request without an authority (HTTP/1.0
      // without Host, HTTP/2 without :authority) or with one no URL can hold (`Host: a b`):
      // one such request would end the process.
      // HTTP/2 forbids connection headers; HTTP/1.0 closes after the response anyway.
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end("a valid Host header (HTTP/2: :authority) is required\n");
      return;
    }
    const malformed =
      req.method === "GET" && handler.allowedMethods.includes("GET") ? malformedGetResponse(request.url) : undefined;
    if (malformed) {
      void universalResponseToNodeResponse(malformed, res).catch(() => {});
      return;
    }
    const shape = requestBodyShapeOf(request.header);
    leaveBodyChecksToGuard(request.header);
    const body = guardRequestBody(req, shape, options.limits, () => stopReading(req, res));
    request.body = body;
    // connect-es leaves a body it stopped reading (the second message of a unary call)
    // suspended: closing it with the response ends the body deadline's timer now, not 30 s on.
    res.once("close", () => void body.return(undefined));
    handler(request)
      .then(async (response) => {
        // A call that never reached the interceptors was refused by connect-es itself, with no reason.
        const answer = values.get(interceptorsReached) ? response : await withProtocolErrorReason(response);
        return universalResponseToNodeResponse(answer, res);
      })
      .catch((reason) => {
        // The client went away mid-response: nothing to tell it.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.log.warn("writing a response failed", { method: handler.method.name, err: String(reason) });
      });
  };
  return Object.assign(nodeHandler, { callUnary });
}

/**
 * Set by the first interceptor. Every error after it is mapped by the interceptors
 * (transport/request-log.ts); one before it was raised by connect-es while it read the
 * request, before the method was called.
 */
const interceptorsReached = createContextKey(false);

const markInterceptorsReached: Interceptor = (next) => (req) => {
  req.contextValues.set(interceptorsReached, true);
  return next(req);
};

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
