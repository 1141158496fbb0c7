import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WatchRequestSchema } from "@engine-cloud/api";
import { codeName } from "@engine-cloud/sdk";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { errorInfoReasonOf } from "./grpc-status.js";

/**
 * The server's two ways of serving Watch, as a raw client reaches them: binary
 * gRPC without a deadline goes the fast path (transport/sync-fast-path.ts),
 * Connect JSON the generic connect handler (services/sync-service.ts).
 */
export type RawWatchPath = "fast path" | "generic path";
export const RAW_WATCH_PATHS: RawWatchPath[] = ["fast path", "generic path"];

/** How a stream ended: the code name ("ok" for a clean end) and the ErrorInfo reason. */
export interface RawWatchEnd {
  codeName: string;
  reason?: string;
}

export interface RawWatch {
  /** Sends the one request message and ends the request body. */
  sendBody(request: { project: string; sinceRevision?: bigint }): void;
  /** Every byte of the response body so far: what a leak check searches. */
  received(): Buffer;
  /** Data messages received so far. */
  readonly messages: number;
  /** Resolves when the stream ends. */
  readonly ended: Promise<RawWatchEnd>;
  close(): void;
}

const CONNECT_END_STREAM = 0x02;

/**
 * A Watch over a bare node:http2 stream whose request headers go out now and
 * whose body goes out only when the test says so (an SDK sends both at once).
 */
export function openRawWatch(url: string, token: string, path: RawWatchPath): RawWatch {
  const session = http2.connect(url);
  session.on("error", () => {});
  const grpc = path === "fast path";
  const req = session.request({
    ":method": "POST",
    ":path": "/engine.cloud.v1.SyncService/Watch",
    "content-type": grpc ? "application/grpc+proto" : "application/connect+json",
    ...(grpc ? { te: "trailers" } : {}),
    authorization: `Bearer ${token}`,
  });
  req.on("error", () => {});
  const chunks: Buffer[] = [];
  let messages = 0;
  let pending = Buffer.alloc(0);
  let connectEnd: (end: RawWatchEnd) => void = () => {};
  req.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const flags = pending[0];
      const body = pending.subarray(5, 5 + pending.readUInt32BE(1));
      if (!grpc && flags & CONNECT_END_STREAM) connectEnd(connectEndOf(body));
      else messages++;
      pending = pending.subarray(5 + body.length);
    }
  });
  // Resolved by the status (gRPC trailers, Connect end-stream message), not by 'close': a
  // request whose body was never sent stays half open on our side.
  const ended = new Promise<RawWatchEnd>((resolve) => {
    connectEnd = resolve;
    const grpcStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] === undefined) return;
      const details = h["grpc-status-details-bin"];
      resolve({
        codeName: codeName(Number(h["grpc-status"])),
        reason: typeof details === "string" ? errorInfoReasonOf(Buffer.from(details, "base64")) : undefined,
      });
    };
    req.on("response", grpcStatus);
    req.on("trailers", grpcStatus);
    req.on("close", () => resolve({ codeName: `closed without a status (rst ${req.rstCode})` }));
    req.resume();
  });
  return {
    sendBody(request) {
      const message = grpc
        ? Buffer.from(toBinary(WatchRequestSchema, create(WatchRequestSchema, request)))
        : Buffer.from(JSON.stringify({ project: request.project, sinceRevision: String(request.sinceRevision ?? 0n) }));
      const envelope = Buffer.alloc(5 + message.length);
      envelope.writeUInt32BE(message.length, 1);
      envelope.set(message, 5);
      req.end(envelope);
    },
    received: () => Buffer.concat(chunks),
    get messages() {
      return messages;
    },
    ended: ended.finally(() => session.close()),
    close() {
      req.close();
      session.close();
    },
  };
}

/** The end of a Connect stream: `{}` for success, else `{ error: { code, details: [{ type, value }] } }`. */
function connectEndOf(json: Buffer): RawWatchEnd {
  const end = JSON.parse(json.toString("utf8")) as { error?: { code: string; details?: Array<{ type: string; value: string }> } };
  if (!end.error) return { codeName: "ok" };
  const info = end.error.details?.find((d) => d.type === "google.rpc.ErrorInfo");
  return {
    codeName: end.error.code,
    reason: info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : undefined,
  };
}
