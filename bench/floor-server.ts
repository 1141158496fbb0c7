/**
 * The floor of the fan-out benchmark: the least any Node server can do to
 * deliver one event to N streams. A plain node:http2 server answers every
 * POST with a Connect stream (status 200, CAUGHT_UP), and on "fire" encodes
 * one WatchResponse once and writes the same bytes to every open stream. No
 * database, no auth, no framework: what remains is HTTP/2 framing, syscalls
 * and the clients' own cost, which the real server pays as well.
 *
 * Forked by bench/fanout.bench.ts; talks to it over IPC:
 *   (start)  → listening { port }
 *   fire     → fired { at }    `at`: wall-clock ms just before the first write
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { CredentialType, WatchResponseSchema, type WatchResponse } from "@engine-cloud/api";
import { wallClockMs } from "./fanout-client.js";

export type FloorCommand = { type: "fire"; revision: number };
export type FloorReply = { type: "listening"; port: number } | { type: "fired"; at: number; streams: number };

function frameOf(message: WatchResponse): Buffer {
  const bytes = toBinary(WatchResponseSchema, message);
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** The same shape and size as the change the real server sends for bench/fanout.bench.ts's put. */
function changeAt(revision: number): WatchResponse {
  const now = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 };
  return create(WatchResponseSchema, {
    revision: BigInt(revision),
    event: {
      case: "upsert",
      value: {
        id: "00000000-0000-4000-8000-000000000000",
        project: "bench",
        provider: "openai",
        alias: "default",
        type: CredentialType.API_KEY,
        keys: { api_key: { value: "x".repeat(48) } },
        version: BigInt(revision),
        revision: BigInt(revision),
        createdAt: now,
        updatedAt: now,
        createdBy: "token:00000000-0000-4000-8000-000000000000",
        updatedBy: "token:00000000-0000-4000-8000-000000000000",
      },
    },
  });
}

const caughtUp = frameOf(create(WatchResponseSchema, { revision: 1n, event: { case: "caughtUp", value: {} } }));
const streams = new Set<http2.ServerHttp2Stream>();
const server = http2.createServer();
server.on("stream", (stream) => {
  stream.respond({ ":status": 200, "content-type": "application/connect+proto" });
  stream.resume(); // the request body is not read, only drained
  stream.write(caughtUp);
  streams.add(stream);
  stream.once("close", () => streams.delete(stream));
  stream.on("error", () => {});
});
server.on("sessionError", () => {});

server.listen(0, "127.0.0.1", () => {
  process.send!({ type: "listening", port: (server.address() as AddressInfo).port } satisfies FloorReply);
});
process.on("message", (cmd: FloorCommand) => {
  if (cmd.type !== "fire") return;
  const frame = frameOf(changeAt(cmd.revision)); // encoded once for every stream
  const at = wallClockMs();
  for (const stream of streams) stream.write(frame);
  process.send!({ type: "fired", at, streams: streams.size } satisfies FloorReply);
});
process.on("disconnect", () => process.exit(0));
