import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
} from "@engine-cloud/sdk/gen/grpc/health/v1/health_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { listen, type HttpListener, type ListenOptions } from "./http-server.js";

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

async function start(tls?: ListenOptions["tls"]): Promise<number> {
  listener = await listen(connectNodeAdapter({ routes }), { host: "127.0.0.1", port: 0, tls });
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

function selfSignedCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "engine-cloud-tls-"));
  const [certPath, keyPath] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days", "1",
    "-keyout", keyPath, "-out", certPath,
  ], { stdio: "ignore" });
  return { cert: readFileSync(certPath), key: readFileSync(keyPath) };
}
