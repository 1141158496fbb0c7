import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create } from "@bufbuild/protobuf";
import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "../../../../test/support/self-signed-certificate.js";
import { DEFAULT_TRANSPORT_LIMITS } from "../config.js";
import { listen, type ConnectionLimits, type HttpListener, type ListenOptions } from "./http-server.js";

// A tiny router: Check answers at once (or after 300 ms for "slow"); Watch stays open until cancelled.
function routes(router: ConnectRouter) {
  router.service(Health, {
    async check(request) {
      if (request.service === "slow") await sleep(300);
      return create(HealthCheckResponseSchema, { status: ServingStatus.SERVING });
    },
    async *watch(_, context) {
      yield create(HealthCheckResponseSchema, { status: ServingStatus.SERVING });
      await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
    },
  });
}

let listener: HttpListener;
const clients: grpc.Client[] = [];

async function start(tls?: ListenOptions["tls"], limits: Partial<ConnectionLimits> = {}): Promise<number> {
  listener = await listen(connectNodeAdapter({ routes }), {
    host: "127.0.0.1",
    port: 0,
    tls,
    limits: { ...DEFAULT_TRANSPORT_LIMITS, ...limits },
  });
  return listener.address.port;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await listener.close(0);
});

describe("listen() on a cleartext port", () => {
  it("answers a curl-style Connect JSON POST over HTTP/1.1", async () => {
    const port = await start();
    const res = await postJson(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, { service: "" });
    expect(res).toMatchObject({ httpVersion: "1.1", status: 200, body: { status: "SERVING" } });
  });

  it("answers gRPC from @grpc/grpc-js over HTTP/2 prior knowledge", async () => {
    const port = await start();
    const client = grpcHealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    expect(await check(client, "")).toBe("SERVING");
  });

  it("answers gRPC-Web over HTTP/1.1", async () => {
    const port = await start();
    const transport = createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" });
    const res = await createClient(Health, transport).check({ service: "" });
    expect(res.status).toBe(ServingStatus.SERVING);
  });

  it("serves HTTP/1.1 and HTTP/2 clients at the same time", async () => {
    const port = await start();
    const client = grpcHealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const [overHttp2, overHttp1] = await Promise.all([
      check(client, "slow"),
      postJson(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, { service: "slow" }),
    ]);
    expect([overHttp2, overHttp1.body]).toEqual(["SERVING", { status: "SERVING" }]);
  });
});

describe("listen() with TLS", () => {
  it("answers gRPC from @grpc/grpc-js over HTTP/2 negotiated with ALPN", async () => {
    const port = await start(tlsForTests());
    const client = grpcHealthClient(`localhost:${port}`, grpc.credentials.createSsl(tlsForTests().cert));
    expect(await check(client, "")).toBe("SERVING");
  });

  it("answers Connect JSON over HTTP/1.1 on the same port", async () => {
    const port = await start(tlsForTests());
    const res = await postJson(`https://localhost:${port}/grpc.health.v1.Health/Check`, { service: "" }, tlsForTests().cert);
    expect(res).toMatchObject({ httpVersion: "1.1", status: 200, body: { status: "SERVING" } });
  });
});

describe("close(deadlineMs)", () => {
  it.each([
    ["cleartext", () => start(), () => grpc.credentials.createInsecure()],
    ["TLS", () => start(tlsForTests()), () => grpc.credentials.createSsl(tlsForTests().cert)],
  ])("ends a server stream still open at the deadline (%s)", async (_, startServer, credentials) => {
    const port = await startServer();
    const watch = grpcHealthClient(`localhost:${port}`, credentials()).Watch({ service: "" });
    const streamEnded = new Promise<grpc.StatusObject>((resolve) => watch.on("status", resolve));
    watch.on("error", () => {});
    await new Promise((resolve) => watch.once("data", resolve));

    const started = Date.now();
    await listener.close(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await streamEnded).code).not.toBe(grpc.status.OK);
  });

  it("lets an in-flight call finish, then stops without waiting for the deadline", async () => {
    const port = await start();
    const client = grpcHealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const slowCall = check(client, "slow");
    await sleep(50);

    const started = Date.now();
    await listener.close(10_000);
    expect(await slowCall).toBe("SERVING");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("does not wait for idle HTTP/1.1 keep-alive connections", async () => {
    const port = await start();
    const res = await fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(await res.json()).toEqual({ status: "SERVING" });

    const started = Date.now();
    await listener.close(10_000);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("closes a busy HTTP/1.1 keep-alive connection once its response is sent", async () => {
    const port = await start();
    const agent = new http.Agent({ keepAlive: true });
    const slowCall = postJson(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, { service: "slow" }, undefined, agent);
    await sleep(50);

    const started = Date.now();
    await listener.close(10_000);
    expect(await slowCall).toMatchObject({ connection: "close", body: { status: "SERVING" } });
    expect(Date.now() - started).toBeLessThan(2_000);
    agent.destroy();
  });

  it("refuses new connections once closing has begun", async () => {
    const port = await start();
    const closing = listener.close(1_000);
    await expect(connect(port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await closing;
  });
});

describe("connection limits", () => {
  it("refuses streams past the per-connection cap with REFUSED_STREAM: bodiless requests cannot pile up on one connection", async () => {
    const port = await start(undefined, { maxStreamsPerConnection: 10 });
    // A raw client, because well-behaved ones (Node's, grpc-js) queue past the server's setting themselves.
    const frames = await rawHttp2Streams(port, 15);
    const refused = frames.filter((f) => f.type === RST_STREAM && f.errorCode === REFUSED_STREAM).map((f) => f.streamId);
    expect(refused).toEqual([21, 23, 25, 27, 29]);
  });

  it("closes an HTTP/2 connection that has had no open stream for the idle timeout", async () => {
    const port = await start(undefined, { idleTimeoutMs: 200 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    expect(await h2Check(session)).toBe("0");
    const closed = await closedWithin(session, 3_000);
    expect(closed).toBe(true);
  });

  it("keeps an HTTP/2 connection with an open stream past the idle timeout", async () => {
    const port = await start(undefined, { idleTimeoutMs: 200 });
    const client = grpcHealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const watch = client.Watch({ service: "" });
    const ended = new Promise<grpc.StatusObject>((resolve) => watch.on("status", resolve));
    watch.on("error", () => {});
    await new Promise((resolve) => watch.once("data", resolve));
    const outcome = await Promise.race([ended, sleep(1_000).then(() => "still open")]);
    expect(outcome).toBe("still open");
    watch.cancel();
  });

  it("closes an idle HTTP/1.1 keep-alive connection after the idle timeout", async () => {
    const port = await start(undefined, { idleTimeoutMs: 200 });
    const socket = net.connect(port, "127.0.0.1");
    const body = JSON.stringify({ service: "" });
    socket.write(
      `POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    await new Promise((resolve) => socket.once("data", resolve));
    expect(await closedWithin(socket, 3_000)).toBe(true);
  });

  it("closes an HTTP/1.1 connection whose request headers do not arrive within the headers timeout", async () => {
    const port = await start(undefined, { headersTimeoutMs: 200 });
    const socket = net.connect(port, "127.0.0.1");
    socket.on("data", () => {});
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\n");
    expect(await closedWithin(socket, 3_000)).toBe(true);
  });

  it("refuses connections past the per-address cap while another address still connects", async () => {
    const port = await start(undefined, { maxConnectionsPerAddress: 3 });
    const sessions = [1, 2, 3].map(() => http2.connect(`http://127.0.0.1:${port}`));
    try {
      for (const session of sessions) expect(await h2Check(session)).toBe("0");
      const fourth = net.connect(port, "127.0.0.1");
      fourth.on("error", () => {});
      expect(await closedWithin(fourth, 3_000)).toBe(true);

      // The session's own socket, so that it leaves from a second loopback address.
      const other = http2.connect(`http://127.0.0.1:${port}`, {
        createConnection: () => net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" }),
      });
      sessions.push(other);
      expect(await h2Check(other)).toBe("0");

      // A slot freed is a slot to use again.
      sessions[0].destroy();
      await sleep(100);
      const again = http2.connect(`http://127.0.0.1:${port}`);
      sessions.push(again);
      expect(await h2Check(again)).toBe("0");
    } finally {
      for (const session of sessions) session.destroy();
    }
  });
});

type HealthClient = grpc.Client & {
  Check(request: { service: string }, options: grpc.CallOptions, callback: grpc.requestCallback<{ status: string }>): void;
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

function grpcHealthClient(address: string, credentials: grpc.ChannelCredentials): HealthClient {
  const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
    includeDirs: [new URL("../../../../proto", import.meta.url).pathname],
    enums: String,
  });
  const { grpc: loaded } = grpc.loadPackageDefinition(definition) as any;
  const client: HealthClient = new loaded.health.v1.Health(address, credentials);
  clients.push(client);
  return client;
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}

/** What `curl -X POST -H 'content-type: application/json' -d ...` would do. */
function postJson(url: string, body: object, ca?: Buffer, agent: http.Agent | false = false) {
  return new Promise<{ httpVersion: string; status: number; connection?: string; body: unknown }>((resolve, reject) => {
    const request = (url.startsWith("https:") ? https : http).request(
      url,
      { method: "POST", headers: { "content-type": "application/json" }, agent, ca },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk) => (text += chunk));
        res.on("end", () =>
          resolve({
            httpVersion: res.httpVersion,
            status: res.statusCode!,
            connection: res.headers.connection,
            body: JSON.parse(text),
          }),
        );
      },
    );
    request.on("error", reject).end(JSON.stringify(body));
  });
}

/** A Health/Check over an HTTP/2 session, by hand; resolves to its grpc-status. */
function h2Check(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    let status = "";
    const read = (h: http2.IncomingHttpHeaders) => (status = String(h["grpc-status"] ?? status));
    req
      .on("response", read)
      .on("trailers", read)
      .on("error", reject)
      .on("close", () => resolve(status));
    req.resume();
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/** Whether the server closed `peer` (a socket or an HTTP/2 session) within `ms`. */
function closedWithin(peer: net.Socket | http2.ClientHttp2Session, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    peer.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const RST_STREAM = 0x3;
const REFUSED_STREAM = 0x7;

interface Frame {
  type: number;
  streamId: number;
  /** RST_STREAM and GOAWAY only. */
  errorCode?: number;
}

/**
 * Opens `count` streams on one HTTP/2 connection by writing the frames by hand: HEADERS
 * without END_STREAM (a request whose body never comes), ignoring the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS. Resolves to the frames the server sent within 1 s.
 */
function rawHttp2Streams(port: number, count: number): Promise<Frame[]> {
  const frame = (type: number, flags: number, streamId: number, payload: Buffer) => {
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header.writeUInt8(type, 3);
    header.writeUInt8(flags, 4);
    header.writeUInt32BE(streamId, 5);
    return Buffer.concat([header, payload]);
  };
  // HPACK "literal header field without indexing, new name", no Huffman coding (RFC 7541 §6.2.2).
  const literal = (name: string, value: string) =>
    Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const headers = Buffer.concat([
    literal(":method", "POST"),
    literal(":scheme", "http"),
    literal(":path", "/grpc.health.v1.Health/Check"),
    literal(":authority", "localhost"),
    literal("content-type", "application/grpc"),
  ]);
  const END_HEADERS = 0x4;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      const out = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0, Buffer.alloc(0))];
      for (let i = 0; i < count; i++) out.push(frame(0x1, END_HEADERS, 1 + 2 * i, headers));
      socket.write(Buffer.concat(out));
    });
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      const frames: Frame[] = [];
      for (let at = 0; at + 9 <= received.length;) {
        const length = received.readUIntBE(at, 3);
        const type = received[at + 3];
        const streamId = received.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = received.subarray(at + 9, at + 9 + length);
        const errorCode = type === RST_STREAM ? payload.readUInt32BE(0) : type === 0x7 ? payload.readUInt32BE(4) : undefined;
        frames.push({ type, streamId, errorCode });
        at += 9 + length;
      }
      resolve(frames);
    }, 1_000);
  });
}

function connect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
}

let selfSigned: { cert: Buffer; key: Buffer } | undefined;

/** A self-signed certificate for localhost, made once per run. */
function tlsForTests(): { cert: Buffer; key: Buffer } {
  return (selfSigned ??= selfSignedCertificate());
}
