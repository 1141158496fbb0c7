import * as http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { errorInfoReasonOf } from "./grpc-status.js";

/**
 * The four ways a caller can put a request on the wire. Connect comes in its
 * two codecs; gRPC and gRPC-Web in their binary one.
 */
export type WireProtocol = "connect-json" | "connect-proto" | "grpc" | "grpc-web";
export const WIRE_PROTOCOLS: WireProtocol[] = ["connect-json", "connect-proto", "grpc", "grpc-web"];

/** A request as bytes, framed by whoever built it (so that the framing itself can be wrong). */
export interface WireRequest {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** For server streams: once a first message arrived, cancel after this long instead of reading to the end. */
  cancelAfterFirstMessageMs?: number;
}

/** What came back, normalised across protocols. */
export interface WireAnswer {
  /** "ok", or the code's snake-case name ("invalid_argument"); "http_<status>" for an answer of no protocol. */
  code: string;
  /** The ErrorInfo reason, when the error carried one. */
  reason?: string;
  domain?: string;
  /** The error message, as the caller would show it. */
  message?: string;
  /** Everything the caller received (headers, body, decoded details), for leak checks. */
  text: string;
  /** Data messages received (server streams). */
  messages: number;
  ms: number;
}

const snake = (code: Code) => Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();

/** The 5-byte envelope of gRPC, gRPC-Web and Connect streams: flags, big-endian length, message. */
export function envelope(message: Uint8Array, flags = 0, declaredLength = message.length): Uint8Array {
  const frame = new Uint8Array(5 + message.length);
  const view = new DataView(frame.buffer);
  view.setUint8(0, flags);
  view.setUint32(1, declaredLength >>> 0);
  frame.set(message, 5);
  return frame;
}

/** The content type and headers of a well-formed request of `protocol`, for a unary or a server-streaming method. */
export function protocolHeaders(protocol: WireProtocol, streaming: boolean): Record<string, string> {
  switch (protocol) {
    case "connect-json":
      return streaming
        ? { "content-type": "application/connect+json", "connect-protocol-version": "1" }
        : { "content-type": "application/json", "connect-protocol-version": "1" };
    case "connect-proto":
      return streaming
        ? { "content-type": "application/connect+proto", "connect-protocol-version": "1" }
        : { "content-type": "application/proto", "connect-protocol-version": "1" };
    case "grpc":
      return { "content-type": "application/grpc+proto", te: "trailers" };
    case "grpc-web":
      return { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  }
}

/** Whether `protocol` wraps every message of this method in an envelope (everything but unary Connect). */
export const isEnveloped = (protocol: WireProtocol, streaming: boolean) =>
  streaming || protocol === "grpc" || protocol === "grpc-web";

/**
 * A few HTTP/2 connections to one server, reused for every call, so that a
 * fuzzer's hundred thousand calls cost streams, not handshakes. A connection
 * that broke is replaced on the next call.
 */
export interface WireClient {
  call(protocol: WireProtocol, streaming: boolean, request: WireRequest, timeoutMs: number): Promise<WireAnswer | "timeout">;
  close(): void;
}

export function createWireClient(url: string, connections: number): WireClient {
  const sessions: Array<http2.ClientHttp2Session | undefined> = new Array(connections);
  let next = 0;
  const session = () => {
    const i = next++ % connections;
    let s = sessions[i];
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(url);
      s.on("error", () => {});
      s.unref();
      sessions[i] = s;
    }
    return s;
  };
  return {
    call: (protocol, streaming, request, timeoutMs) => callOnce(session(), protocol, streaming, request, timeoutMs),
    close() {
      for (const s of sessions) s?.destroy();
    },
  };
}

function callOnce(
  session: http2.ClientHttp2Session,
  protocol: WireProtocol,
  streaming: boolean,
  request: WireRequest,
  timeoutMs: number,
): Promise<WireAnswer | "timeout"> {
  const started = performance.now();
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ":method": "POST", ":path": request.path, ...request.headers });
    } catch (err) {
      resolve({ code: "client_error", text: String(err), messages: 0, ms: 0 });
      return;
    }
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let settled = false;
    let cancelTimer: NodeJS.Timeout | undefined;
    const finish = (cancelled: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(cancelTimer);
      const answer = interpret(protocol, streaming, headers, trailers, Buffer.concat(chunks), cancelled);
      resolve({ ...answer, ms: performance.now() - started });
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve("timeout");
    }, timeoutMs);
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (d: Buffer) => {
      chunks.push(d);
      if (
        streaming &&
        request.cancelAfterFirstMessageMs !== undefined &&
        !cancelTimer &&
        dataMessages(Buffer.concat(chunks)) > 0
      ) {
        cancelTimer = setTimeout(() => {
          finish(true);
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }, request.cancelAfterFirstMessageMs);
      }
    });
    stream.on("end", () => finish(false));
    stream.on("close", () => finish(false));
    stream.on("error", () => finish(false));
    stream.end(request.body);
  });
}

/** The data (non-trailer) frames at the start of an enveloped body. */
function dataMessages(body: Buffer): number {
  let n = 0;
  for (let pos = 0; pos + 5 <= body.length;) {
    const flags = body[pos];
    const len = body.readUInt32BE(pos + 1);
    if (pos + 5 + len > body.length) break;
    if ((flags & 0x82) === 0) n++;
    pos += 5 + len;
  }
  return n;
}

function frames(body: Buffer): Array<{ flags: number; data: Buffer }> {
  const out: Array<{ flags: number; data: Buffer }> = [];
  for (let pos = 0; pos + 5 <= body.length;) {
    const len = body.readUInt32BE(pos + 1);
    out.push({ flags: body[pos], data: body.subarray(pos + 5, pos + 5 + len) });
    pos += 5 + len;
  }
  return out;
}

const headerText = (h: http2.IncomingHttpHeaders) =>
  Object.entries(h)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(",") : v}`)
    .join("\n");

/** A Connect error body, JSON: {code, message, details: [{type, value}]}. */
function connectError(json: unknown): { code: string; reason?: string; domain?: string; message?: string; decoded: string } {
  const body = (json ?? {}) as { code?: unknown; message?: unknown; details?: Array<{ type?: string; value?: string }> };
  let reason: string | undefined;
  let domain: string | undefined;
  const decoded: string[] = [];
  for (const d of body.details ?? []) {
    if (typeof d?.value !== "string") continue;
    const bytes = Buffer.from(d.value, "base64");
    decoded.push(bytes.toString("latin1"));
    if (d.type === "google.rpc.ErrorInfo") {
      const info = fromBinary(ErrorInfoSchema, bytes);
      reason = info.reason;
      domain = info.domain;
    }
  }
  const message = typeof body.message === "string" ? body.message : undefined;
  return { code: typeof body.code === "string" ? body.code : "unknown", reason, domain, message, decoded: decoded.join("\n") };
}

function grpcStatus(
  h: http2.IncomingHttpHeaders,
): { code: string; reason?: string; message?: string; decoded: string } | undefined {
  const status = h["grpc-status"];
  if (status === undefined) return undefined;
  const n = Number(status);
  const details = h["grpc-status-details-bin"];
  const bytes = typeof details === "string" ? Buffer.from(details, "base64") : undefined;
  const message = decodeURIComponentSafe(String(h["grpc-message"] ?? ""));
  return {
    code: n === 0 ? "ok" : Code[n] ? snake(n as Code) : `grpc_${status}`,
    reason: bytes ? errorInfoReasonOf(bytes) : undefined,
    message,
    decoded: `${bytes?.toString("latin1") ?? ""}\n${message}`,
  };
}

const decodeURIComponentSafe = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** grpc-web trailers: "key: value\r\n" lines in a frame with flag 0x80. */
function grpcWebTrailers(data: Buffer): http2.IncomingHttpHeaders {
  const h: http2.IncomingHttpHeaders = {};
  for (const line of data.toString("latin1").split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return h;
}

function interpret(
  protocol: WireProtocol,
  streaming: boolean,
  headers: http2.IncomingHttpHeaders,
  trailers: http2.IncomingHttpHeaders,
  body: Buffer,
  cancelled: boolean,
): Omit<WireAnswer, "ms"> {
  const status = Number(headers[":status"] ?? 0);
  const raw = `${headerText(headers)}\n${headerText(trailers)}\n${body.toString("latin1")}`;
  const messages = isEnveloped(protocol, streaming) ? dataMessages(body) : 0;
  const answer = (code: string, reason?: string, extra = "", domain?: string, message?: string) => ({
    code,
    reason,
    domain,
    message,
    text: `${raw}\n${extra}`,
    messages,
  });
  // A request whose content type named another protocol is answered in that one: go by what came back.
  const answeredGrpc = headers["grpc-status"] !== undefined || trailers["grpc-status"] !== undefined;
  if (protocol === "grpc" || protocol === "grpc-web" || answeredGrpc) {
    const fromHeaders = grpcStatus(headers) ?? grpcStatus(trailers);
    const trailerFrame = protocol === "grpc-web" ? frames(body).find((f) => f.flags & 0x80) : undefined;
    const s = fromHeaders ?? (trailerFrame ? grpcStatus(grpcWebTrailers(trailerFrame.data)) : undefined);
    if (s) return answer(s.code, s.reason, s.decoded, undefined, s.message);
    if (cancelled && messages > 0) return answer("ok");
    return answer(status === 200 ? "no_status" : `http_${status}`);
  }
  const isJsonBody = String(headers["content-type"] ?? "").includes("json");
  if (!streaming) {
    if (status === 200) return answer("ok");
    if (!isJsonBody) return answer(`http_${status}`);
    try {
      const e = connectError(JSON.parse(body.toString("utf8")));
      return answer(e.code, e.reason, e.decoded, e.domain, e.message);
    } catch {
      return answer(`http_${status}_unparsable`);
    }
  }
  if (status !== 200) {
    try {
      const e = connectError(JSON.parse(body.toString("utf8")));
      return answer(e.code, e.reason, e.decoded, e.domain, e.message);
    } catch {
      return answer(`http_${status}`);
    }
  }
  const end = frames(body).find((f) => f.flags & 0x02);
  if (!end) return answer(cancelled && messages > 0 ? "ok" : "no_end_stream");
  try {
    const json = JSON.parse(end.data.toString("utf8")) as { error?: unknown };
    if (!json.error) return answer("ok");
    const e = connectError(json.error);
    return answer(e.code, e.reason, e.decoded, e.domain, e.message);
  } catch {
    return answer("end_stream_unparsable");
  }
}
