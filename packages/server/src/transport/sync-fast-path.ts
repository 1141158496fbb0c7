import type * as http2 from "node:http2";
import type { Writable } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { createMethodSerializationLookup } from "@connectrpc/connect/protocol";
import { SyncService, WatchRequestSchema, type WatchRequest } from "@engine-cloud/api";
import type { DomainError } from "../errors/domain-error.js";
import { toConnectError } from "../errors/to-connect-error.js";
import type { Limiter } from "../limits/limiter.js";
import type { Logger } from "../log.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import type { SyncAccessCheck } from "../sync/sync-access.js";
import { syncViewOf, type SyncEvent, type SyncView } from "../sync/sync-events.js";
import type { SyncWatcher } from "../sync/sync-hub.js";
import { watchTargetOf, type WatchOpener, type WatchTarget } from "../sync/open-watch.js";
import { WatchCursor } from "../sync/watch-cursor.js";
import type { Authorize } from "../tenancy/access-interceptor.js";
import { correlationHeaders, logCallEnd, newRequestContext, streamOpened, type LoggedCall } from "./request-log.js";
import { hostOf, peerOf } from "./remote-address.js";
import type { ValidateMessage } from "./request-validation.js";
import { bodyWithin } from "./request-body-deadline.js";
import { NO_STORE } from "./secret-bearing.js";
import {
  binaryStreamProtocolOf,
  hasDeadline,
  readSingleMessage,
  responseContentType,
  streamEnd,
  toFetchHeaders,
  type StreamProtocol,
} from "./stream-framing.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

const WATCH = SyncService.method.watch;
const WATCH_METHOD = `${SyncService.typeName}/${WATCH.name}`;
const WATCH_PATH = `/${WATCH_METHOD}`;

// A WatchRequest is a project name, a revision, a runtime id and at most 16
// kinds: well under 1 KiB even at its validated maxima in 4-byte UTF-8.
// Nothing bigger is read.
const MAX_REQUEST_BYTES = 4096;

export interface SyncFastPathDeps {
  /** Registers, re-checks, catches up and audits streams, shared with the generic path (sync/open-watch.ts). */
  watches: WatchOpener;
  log: Logger;
  metrics: ServerMetrics;
  /** The access interceptor's check (tenancy/access-interceptor.ts). */
  authorize: Authorize;
  /** Stream slots, taken right after the access check as on the generic path. */
  limiter: Pick<Limiter, "openStream">;
  /** The validation interceptor's check (transport/request-validation.ts). */
  validateMessage: ValidateMessage;
  /** The project policy check every Watch passes (sync/sync-access.ts), shared with the generic path. */
  requireSyncAccess: SyncAccessCheck;
  /** How long after its headers a Watch's request message may take to arrive. */
  bodyTimeoutMs: number;
}

/** What every stream of the fast path shares: one object, referenced from each stream. */
type Shared = SyncFastPathDeps;

/**
 * Serves binary SyncService/Watch streams (gRPC over HTTP/2, gRPC-Web and
 * Connect over HTTP/1.1 and HTTP/2) directly on the node response, and hands
 * every other request to `next` (the connect adapter).
 *
 * Why: the generic path re-encodes each event per stream and runs it through
 * an async-iterator pipeline per stream, which at thousands of streams costs
 * several times the bare cost of writing the bytes. Here the hub's shared,
 * already-framed `SyncEvent.frameFor(shape)` is written to each response as is, and an
 * idle stream is one small object.
 *
 * Same behaviour as the generic path, by sharing its parts: the access check
 * (Authorize), message validation, the project policy check
 * (sync/sync-access.ts), the position/catch-up state machine
 * (sync/watch-cursor.ts), catch-up reads (sync/catch-up-reader.ts), the
 * open sequence (sync/open-watch.ts: hub, token expiry, the re-check before
 * the first send), the body deadline, the request log line, and connect-es's
 * serialisation of stream ends. Calls with a deadline (which need a timer
 * each) and JSON codecs go to the generic path.
 */
export function withSyncFastPath(deps: SyncFastPathDeps, next: NodeHandler): NodeHandler {
  const shared: Shared = deps;
  const limits = { readMaxBytes: MAX_REQUEST_BYTES, writeMaxBytes: MAX_REQUEST_BYTES };
  const parseRequest = createMethodSerializationLookup(WATCH, undefined, undefined, limits).getI(true);
  return (req, res) => {
    if (req.method !== "POST" || req.url !== WATCH_PATH) return next(req, res);
    const protocol = binaryStreamProtocolOf(req.headers["content-type"], req.httpVersionMajor);
    if (!protocol || hasDeadline(protocol, req.headers)) return next(req, res);
    void serveWatch(shared, parseRequest.parse, req, res, protocol);
  };
}

async function serveWatch(
  shared: Shared,
  parseRequest: (bytes: Uint8Array) => WatchRequest,
  req: NodeRequest,
  res: NodeResponse,
  protocol: StreamProtocol,
): Promise<void> {
  const header = toFetchHeaders(req.headers);
  const call: LoggedCall = {
    ctx: { ...newRequestContext(header, peerOf(req)), host: hostOf(req) },
    method: WATCH_METHOD,
    protocol,
    started: performance.now(),
  };
  const stream = new FastWatchStream(shared, res, protocol, call);
  let gone = false;
  res.once("close", () => {
    gone = true;
    stream.closed();
  });
  try {
    await shared.authorize(call.ctx, WATCH_METHOD, header);
    const release = await shared.limiter.openStream(call.ctx);
    if (gone) release();
    else res.once("close", release);
    const body = req as AsyncIterable<Uint8Array>;
    const message = await readSingleMessage(bodyWithin(body, shared.bodyTimeoutMs), protocol, header, MAX_REQUEST_BYTES);
    const request = parseRequest(message);
    shared.validateMessage(WatchRequestSchema, request);
    const { caller, tenant } = call.ctx;
    if (!caller || !tenant) throw new Error("the Watch access rule established no tenant");
    await shared.requireSyncAccess({ caller, tenant }, request.project);
    const { requestId, peer, userAgent } = call.ctx;
    await stream.open(watchTargetOf({ caller, tenant }, request, call.ctx.credential, { requestId, peer, userAgent }));
  } catch (e) {
    stream.fail(e);
  }
}

/**
 * One Watch stream of the fast path, and its watcher in the hub. Memory per
 * idle stream is this object and its cursor: no queue, no timer, no closure
 * but the response's close listener. Backpressure drops to the database
 * instead of buffering: when the socket will not take more, live events are
 * not written but remembered as "missed up to revision r", and once it drains
 * one catch-up from the last revision written brings the stream level.
 */
class FastWatchStream implements SyncWatcher {
  tenantId = "";
  project = "";
  view: SyncView = syncViewOf("", []);
  principalId = "";
  bearer = "";
  readonly #shared: Shared;
  readonly #res: NodeResponse;
  readonly #protocol: StreamProtocol;
  readonly #call: LoggedCall;
  #cursor?: WatchCursor;
  /** Where frames go: the HTTP/2 stream itself (skipping the compat layer), or the HTTP/1.1 response. */
  #sink?: Writable;
  #catchingUp = false;
  /** The last write was refused (the socket buffer is full) and 'drain' has not come yet. */
  #blocked = false;
  /** Highest live revision offered that was not written (0: none). */
  #missed = 0;
  #ended = false;

  constructor(shared: Shared, res: NodeResponse, protocol: StreamProtocol, call: LoggedCall) {
    this.#shared = shared;
    this.#res = res;
    this.#protocol = protocol;
    this.#call = call;
  }

  /** Starts the stream: registration and re-check (sync/open-watch.ts), response headers, then the first catch-up. */
  async open(w: WatchTarget): Promise<void> {
    if (this.#ended) return;
    this.tenantId = w.tenantId;
    this.project = w.project;
    this.view = w.view;
    this.principalId = w.principalId;
    this.bearer = w.bearer;
    // Offers until the first catch-up are only remembered as missed: nothing is written before it.
    this.#cursor = new WatchCursor(w.since);
    await this.#shared.watches.open(this, w);
    if (this.#ended) return;
    streamOpened(this.#shared.metrics, this.#call);
    this.#writeHead();
    this.#pump();
  }

  /** The revision the frames written so far bring the runtime to (presence's "revision delivered"). */
  get deliveredRevision(): number {
    return this.#cursor?.position ?? 0;
  }

  offer(event: SyncEvent): void {
    const cursor = this.#cursor;
    if (!cursor || this.#ended) return;
    if (this.#catchingUp || this.#blocked || cursor.needsCatchUp) {
      // Not written now: the next catch-up reads it from the database.
      if (!event.isHeartbeat && event.revision > this.#missed) this.#missed = event.revision;
      return;
    }
    const send = cursor.next(event);
    if (send) this.#write(send.frameFor(this.view.shape));
  }

  terminate(err: DomainError): void {
    this.#end(toConnectError(err));
  }

  /** Ends the stream with the error (before or after it opened). */
  fail(e: unknown): void {
    const err = toConnectError(e);
    // As on the generic path, an error before the stream opened names the request in its metadata.
    if (!this.#res.headersSent) for (const [k, v] of Object.entries(correlationHeaders(this.#call.ctx))) err.metadata.set(k, v);
    this.#end(err);
  }

  /** The response closed: the client went away, or the stream ended. */
  closed(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach();
    logCallEnd(this.#shared, this.#call, toConnectError(new ConnectError("the client closed the stream", Code.Canceled)));
  }

  /** Catches up if the stream is behind and can take the result; otherwise waits for what it waits for. */
  #pump(): void {
    const cursor = this.#cursor;
    if (!cursor || this.#ended || this.#catchingUp || this.#blocked) return;
    if (cursor.needsCatchUp || this.#missed > cursor.position) void this.#catchUp(cursor);
  }

  async #catchUp(cursor: WatchCursor): Promise<void> {
    this.#catchingUp = true;
    try {
      // The first one is the stream's audited open: it returns only once its event committed.
      const result = await this.#shared.watches.catchUp(this, cursor.beginCatchUp());
      if (this.#ended) return;
      // Written whole even past a full buffer: it is bounded by the project's live
      // credentials, and nothing else is written until the socket drains.
      for (const e of cursor.finishCatchUp(result)) this.#write(e.frameFor(this.view.shape));
    } catch (err) {
      this.#end(toConnectError(err));
      return;
    } finally {
      this.#catchingUp = false;
    }
    this.#pump();
  }

  #writeHead(): void {
    const res = this.#res;
    res.writeHead(200, {
      "content-type": responseContentType(this.#protocol),
      ...correlationHeaders(this.#call.ctx),
      // Watch is secret-bearing (the proto says so; test/secret-bearing-reads.test.ts holds this path to it).
      [NO_STORE.name]: NO_STORE.value,
    });
    this.#sink = "stream" in res ? (res as unknown as http2.Http2ServerResponse).stream : (res as unknown as Writable);
  }

  #write(frame: Uint8Array): void {
    if (this.#sink!.write(frame) || this.#blocked) return;
    this.#blocked = true;
    // Only a stream under backpressure pays for a listener, and only one however many writes a catch-up refuses.
    this.#sink!.once("drain", () => {
      this.#blocked = false;
      this.#pump();
    });
  }

  #detach(): void {
    this.#shared.watches.close(this);
  }

  #end(err: ConnectError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach();
    const res = this.#res;
    if (!res.headersSent) this.#writeHead();
    const end = streamEnd(this.#protocol, err);
    if ("trailers" in end) {
      (res as unknown as http2.Http2ServerResponse).addTrailers(end.trailers);
      res.end();
    } else {
      res.end(end.frame);
    }
    logCallEnd(this.#shared, this.#call, err);
  }
}
