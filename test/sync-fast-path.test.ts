import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { TokenKind, WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "@engine-cloud/api";
import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";
import { errorInfoReasonOf } from "./support/grpc-status.js";
import { changeOf, isCaughtUp, recordWatch } from "./support/watch-recorder.js";

const PROJECT = "fast";
/** A provider name no other test uses, so each test's credentials are its own. */
const provider = () => `p-${randomBytes(4).toString("hex")}`;

let srv: TestServer;
let tenant: TestTenant;
/** The class of every watcher the hub registered, in order: which path served each stream. */
const servedBy: string[] = [];

beforeAll(async () => {
  srv = await startTestServer();
  tenant = await createTestTenant(srv, { allow: [PROJECT] });
  const hub = srv.server.app.hub;
  const add = hub.add.bind(hub);
  hub.add = (watcher) => {
    servedBy.push(watcher.constructor.name);
    return add(watcher);
  };
});
afterAll(() => srv?.stop());

/** Opens a stream and returns the name of the watcher class that served it. */
async function pathOf(open: () => Promise<unknown>): Promise<string> {
  const before = servedBy.length;
  await open();
  return servedBy[before] ?? "none";
}

const SDK_CLIENTS: Array<[string, Partial<CloudClientOptions>]> = [
  ["Connect over HTTP/1.1", { protocol: "connect", httpVersion: "1.1" }],
  ["Connect over HTTP/2", { protocol: "connect", httpVersion: "2" }],
  ["gRPC", { protocol: "grpc" }],
  ["gRPC-Web over HTTP/1.1", { protocol: "grpc-web", httpVersion: "1.1" }],
  ["gRPC-Web over HTTP/2", { protocol: "grpc-web", httpVersion: "2" }],
];

describe.each(SDK_CLIENTS)("a Watch from the SDK over %s", (_name, options) => {
  it("is served by the fast path: snapshot, CAUGHT_UP, then a live put", async () => {
    const stored = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
    const { secret } = await tenant.token();
    const client = createCloudClient({ baseUrl: srv.url, token: secret, ...options });
    const watch = recordWatch(client, { project: PROJECT });
    try {
      const served = await pathOf(() => watch.until(isCaughtUp));
      expect(served).toBe("FastWatchStream");
      expect(watch.events[0].event).toMatchObject({ case: "reset", value: { reason: "INITIAL" } });
      expect(watch.events.some(changeOf(stored.id))).toBe(true);

      const live = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
      const got = await watch.until(changeOf(live.id));
      expect(got.revision).toBe(live.revision);
      expect(got.event.case === "upsert" && got.event.value.keys.api_key.value).toBeTruthy();
    } finally {
      await watch.close();
    }
  });

  it("ends with UNAUTHENTICATED and reason TOKEN_REVOKED when its token is revoked", async () => {
    const { id, secret } = await tenant.token();
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, ...options }), { project: PROJECT });
    await watch.until(isCaughtUp);
    await tenant.admin.tokens.revokeToken({ id });
    const ended = await withTimeout(watch.ended, 5000);
    expect([ended?.codeName, ended?.reason]).toEqual(["unauthenticated", "TOKEN_REVOKED"]);
  });
});

describe("a Watch from @grpc/grpc-js", () => {
  it("is served by the fast path: snapshot, CAUGHT_UP, then a live put", async () => {
    const stored = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
    const { secret } = await tenant.token();
    const stream = grpcJsWatch(secret);
    try {
      const served = await pathOf(() => stream.until((e) => e.event === "caughtUp"));
      expect(served).toBe("FastWatchStream");
      expect(stream.events[0].reset?.reason).toBe("INITIAL");
      expect(stream.events.some((e) => e.upsert?.id === stored.id)).toBe(true);

      const live = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
      const got = await stream.until((e) => e.upsert?.id === live.id);
      expect(got.revision).toBe(String(live.revision));
    } finally {
      stream.close();
    }
  });

  it("ends with UNAUTHENTICATED and ErrorInfo TOKEN_REVOKED in grpc-status-details-bin", async () => {
    const { id, secret } = await tenant.token();
    const stream = grpcJsWatch(secret);
    try {
      await stream.until((e) => e.event === "caughtUp");
      await tenant.admin.tokens.revokeToken({ id });
      const err = await withTimeout(stream.ended, 5000);
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
      const details = err?.metadata.get("grpc-status-details-bin")[0] as Buffer;
      expect(errorInfoReasonOf(details)).toBe("TOKEN_REVOKED");
    } finally {
      stream.close();
    }
  });
});

describe("a slow reader on the fast path", () => {
  it("misses nothing: a stream that stops reading catches up from the database once it drains", async () => {
    const { secret } = await tenant.token();
    const reader = rawConnectWatch(secret);
    try {
      await reader.until((e) => e.event.case === "caughtUp");
      reader.pause();
      const written: Array<{ id: string; revision: bigint }> = [];
      // 48 KiB each: a few of them overflow the HTTP/2 window and both sides' stream buffers.
      const bulky = () =>
        Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`, { value: randomBytes(8192).toString("hex") }]));
      for (let i = 0; i < 8; i++) {
        const c = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, "", { keys: bulky() });
        written.push({ id: c.id, revision: c.revision });
      }
      reader.resume();
      const last = written[written.length - 1];
      await reader.until((e) => e.revision === last.revision && e.event.case === "upsert", 10_000);
      const ids = new Set(written.map((w) => w.id));
      const live = reader.events.filter((e) => e.event.case === "upsert" && ids.has(e.event.value.id));
      expect(live.map((e) => e.revision)).toEqual(written.map((w) => w.revision));
      // Its first read was the snapshot (since 0); a later one, from where it stood, filled the gap.
      const resumed = srv.logs
        .map((l) => JSON.parse(l))
        .filter((l) => l.msg === "sync catch-up" && l.tenant === tenant.id && l.since > 0);
      expect(resumed.length).toBeGreaterThanOrEqual(1);
    } finally {
      reader.close();
    }
  });
});

describe("the fast path's ends and log", () => {
  it("ends a stream with TOKEN_EXPIRED when its token expires", async () => {
    const { token, secret } = await tenant.admin.tokens.createToken({
      label: "short",
      kind: TokenKind.RUNTIME,
      expiresAt: timestampFromDate(new Date(Date.now() + 1500)),
    });
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, protocol: "grpc" }), { project: PROJECT });
    await watch.until(isCaughtUp);
    const ended = await withTimeout(watch.ended, 5000);
    expect([ended?.codeName, ended?.reason]).toEqual(["unauthenticated", "TOKEN_EXPIRED"]);
    expect(token).toBeDefined();
  });

  it("writes the same log line as every other call: ids and codes, never the token", async () => {
    const { id, secret } = await tenant.token();
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, protocol: "grpc-web" }), { project: PROJECT });
    await watch.until(isCaughtUp);
    await tenant.admin.tokens.revokeToken({ id });
    await withTimeout(watch.ended, 5000);
    const line = srv.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "rpc" && l.token_id === id);
    expect(line).toMatchObject({
      method: "engine.cloud.v1.SyncService/Watch",
      protocol: "grpc-web",
      code: "Unauthenticated",
      reason: "TOKEN_REVOKED",
      tenant: tenant.id,
    });
    expect(srv.logs.join("\n")).not.toContain(secret);
  });
});

describe("requests the fast path leaves to the stock handler", () => {
  it("serves a Connect JSON Watch on the stock path, with the same events", async () => {
    const stored = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
    const { secret } = await tenant.token();
    const transport = createConnectTransport({
      baseUrl: srv.url,
      httpVersion: "1.1",
      useBinaryFormat: false,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${secret}`), next(req))],
    });
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, transport }), { project: PROJECT });
    try {
      const served = await pathOf(() => watch.until(isCaughtUp));
      expect(served).toBe("QueuedWatcher");
      expect(watch.events.some(changeOf(stored.id))).toBe(true);
      const live = await putApiKey(tenant.admin, { project: PROJECT, provider: provider() }, uniqueSecret());
      expect((await watch.until(changeOf(live.id))).revision).toBe(live.revision);
    } finally {
      await watch.close();
    }
  });
});

describe("refusals on the fast path", () => {
  it("refuses a project the policy denies with PERMISSION_DENIED and reason PROJECT_UNKNOWN", async () => {
    const { secret } = await tenant.token();
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, httpVersion: "2" }), { project: "nope" });
    const ended = await withTimeout(watch.ended, 5000);
    expect([ended?.codeName, ended?.reason]).toEqual(["permission_denied", "PROJECT_UNKNOWN"]);
  });

  it("refuses an invalid request with INVALID_ARGUMENT naming the field", async () => {
    const { secret } = await tenant.token();
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, protocol: "grpc" }), { project: "-bad" });
    const ended = await withTimeout(watch.ended, 5000);
    expect([ended?.codeName, ended?.field]).toEqual(["invalid_argument", "project"]);
  });

  it("refuses a compressed request with UNIMPLEMENTED", async () => {
    const { secret } = await tenant.token();
    const session = http2.connect(srv.url);
    try {
      const req = session.request({
        ":method": "POST",
        ":path": "/engine.cloud.v1.SyncService/Watch",
        "content-type": "application/grpc+proto",
        "grpc-encoding": "gzip",
        te: "trailers",
        authorization: `Bearer ${secret}`,
      });
      req.end(Buffer.from([1, 0, 0, 0, 0]));
      req.resume();
      const [trailers] = await withTimeout(
        new Promise<[http2.IncomingHttpHeaders]>((r) => req.once("trailers", (t) => r([t]))),
        5000,
      );
      expect(trailers["grpc-status"]).toBe(String(grpc.status.UNIMPLEMENTED));
    } finally {
      session.close();
    }
  });
});

/** A WatchResponse as @grpc/proto-loader decodes it: int64 as strings, `event` naming the oneof case. */
interface GrpcJsEvent {
  revision: string;
  event: string;
  reset?: { reason: string } | null;
  upsert?: { id: string } | null;
}

/** A Watch through @grpc/grpc-js and the .proto files themselves: an implementation that shares no code with ours. */
function grpcJsWatch(token: string) {
  const definition = protoLoader.loadSync("engine/cloud/v1/sync_service.proto", {
    includeDirs: [path.join(REPO_ROOT, "proto")],
    longs: String,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    engine: { cloud: { v1: { SyncService: grpc.ServiceClientConstructor } } };
  };
  const client = new loaded.engine.cloud.v1.SyncService(new URL(srv.url).host, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const call = (client as unknown as { Watch: (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<GrpcJsEvent> }).Watch(
    { project: PROJECT, since_revision: "0" },
    metadata,
  );
  const events: GrpcJsEvent[] = [];
  call.on("data", (e: GrpcJsEvent) => events.push(e));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on("error", (err: grpc.ServiceError) => resolve(err));
    call.on("end", () => resolve(undefined));
  });
  return {
    events,
    ended,
    until: (match: (e: GrpcJsEvent) => boolean, timeoutMs?: number) =>
      firstMatch(events, match, timeoutMs, () => JSON.stringify(events)),
    close() {
      call.cancel();
      client.close();
    },
  };
}

/**
 * A Connect Watch over a bare node:http2 stream, whose reading can be paused
 * (the SDK always reads): frames decoded by hand.
 */
function rawConnectWatch(token: string) {
  const session = http2.connect(srv.url);
  const req = session.request({
    ":method": "POST",
    ":path": "/engine.cloud.v1.SyncService/Watch",
    "content-type": "application/connect+proto",
    authorization: `Bearer ${token}`,
  });
  const message = toBinary(WatchRequestSchema, create(WatchRequestSchema, { project: PROJECT }));
  const envelope = Buffer.alloc(5 + message.length);
  envelope.writeUInt32BE(message.length, 1);
  envelope.set(message, 5);
  req.end(envelope);
  const events: WatchResponse[] = [];
  let pending = Buffer.alloc(0);
  req.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      if (pending[0] === 0) events.push(fromBinary(WatchResponseSchema, pending.subarray(5, 5 + length)));
      pending = pending.subarray(5 + length);
    }
  });
  return {
    events,
    pause: () => req.pause(),
    resume: () => req.resume(),
    until: (match: (e: WatchResponse) => boolean, timeoutMs?: number) =>
      firstMatch(events, match, timeoutMs, () => events.map((e) => `${e.event.case}@${e.revision}`).join(" ")),
    close() {
      req.close();
      session.close();
    },
  };
}

/** The first of `events` (a list still growing) that matches, polled until `timeoutMs`. */
async function firstMatch<T>(events: T[], match: (e: T) => boolean, timeoutMs = 5000, describe: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = events.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no such event within ${timeoutMs} ms; the stream sent: ${describe()}`);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))]);
}
