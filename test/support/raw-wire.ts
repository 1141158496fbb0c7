import * as http from "node:http";
import * as http2 from "node:http2";
import { errorInfoReasonOf } from "./grpc-status.js";

/** What a hand-made gRPC or gRPC-Web call came back with. */
export interface RawOutcome {
  httpStatus: number;
  /** grpc-status, from the headers (trailers-only), the trailers, or a gRPC-Web trailer frame. */
  grpcStatus?: number;
  /** The ErrorInfo reason in grpc-status-details-bin. */
  reason?: string;
  /** HTTP/2 only: the RST_STREAM code the stream closed with (0: none or NO_ERROR). */
  rstCode?: number;
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload. */
export function envelope(payload: Buffer, { flags = 0, declaredLength = payload.length } = {}): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([header, payload]);
}

/**
 * One gRPC call over HTTP/2 made by hand, so a test can send what no client library would:
 * a lying length prefix, a compressed flag, a body that never ends (`end: false`).
 */
export function h2GrpcCall(
  url: string,
  path: string,
  body: Buffer,
  { headers = {}, end = true, timeoutMs = 10_000 }: { headers?: Record<string, string>; end?: boolean; timeoutMs?: number } = {},
): Promise<RawOutcome> {
  const session = http2.connect(url);
  session.on("error", () => {});
  return new Promise<RawOutcome>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${path} within ${timeoutMs} ms`)), timeoutMs);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      ...headers,
    });
    const outcome: RawOutcome = { httpStatus: 0 };
    const read = (h: http2.IncomingHttpHeaders) => {
      if (h[":status"]) outcome.httpStatus = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) outcome.grpcStatus = Number(h["grpc-status"]);
      const details = h["grpc-status-details-bin"];
      if (typeof details === "string") outcome.reason = errorInfoReasonOf(Buffer.from(details, "base64"));
    };
    const settle = () => {
      clearTimeout(timer);
      outcome.rstCode = req.rstCode;
      resolve(outcome);
    };
    req
      .on("response", read)
      .on("trailers", read)
      .on("error", () => {});
    // The server has had its say once its side ends (END_STREAM), even while ours is still open.
    req.on("end", settle).on("close", settle);
    req.resume();
    req.write(body);
    if (end) req.end();
  }).finally(() => session.destroy());
}

/** One gRPC-Web call over HTTP/1.1 made by hand; the status is read from the trailer frame (or trailers-only headers). */
export function http1GrpcWebCall(
  url: string,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(path, url),
      { method: "POST", agent: false, headers: { "content-type": "application/grpc-web+proto", ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const fields = { ...res.headers, ...trailerFrameFields(Buffer.concat(chunks)) };
          const details = fields["grpc-status-details-bin"];
          resolve({
            httpStatus: res.statusCode!,
            grpcStatus: fields["grpc-status"] === undefined ? undefined : Number(fields["grpc-status"]),
            reason: typeof details === "string" ? errorInfoReasonOf(Buffer.from(details, "base64")) : undefined,
          });
        });
      },
    );
    req.on("error", reject).end(body);
  });
}

/** The header lines of the gRPC-Web trailer frame (flag 0x80) in a response body. */
function trailerFrameFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    if (body[at] & 0x80) {
      for (const line of body
        .subarray(at + 5, at + 5 + length)
        .toString("utf8")
        .split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) fields[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    at += 5 + length;
  }
  return fields;
}
