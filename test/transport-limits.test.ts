import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { h2GrpcCall } from "./support/raw-wire.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { changeOf, isCaughtUp, recordWatch } from "./support/watch-recorder.js";

// Short, so the tests see them pass; the defaults are in config.ts and the README.
const BODY_TIMEOUT_MS = 300;
const IDLE_TIMEOUT_MS = 300;
const PROJECT = "limits";

let srv: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  srv = await startTestServer({
    env: {
      ENGINE_CLOUD_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
      ENGINE_CLOUD_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      ENGINE_CLOUD_SYNC_HEARTBEAT_MS: "100",
    },
  });
  tenant = await createTestTenant(srv, { allow: [PROJECT] });
});
afterAll(() => srv?.stop());

describe("request body timeout", () => {
  it("ends a unary gRPC request whose body never comes with DEADLINE_EXCEEDED and REQUEST_BODY_TIMEOUT", async () => {
    const outcome = await h2GrpcCall(srv.url, "/engine.cloud.v1.AuthService/WhoAmI", Buffer.alloc(0), { end: false });
    expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.DEADLINE_EXCEEDED, "REQUEST_BODY_TIMEOUT"]);
  });

  it("ends a Connect request over HTTP/1.1 whose announced body never comes, with the same reason", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${srv.url}/engine.cloud.v1.AuthService/WhoAmI`, {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": "100" },
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    const body = JSON.parse(answer.body);
    expect(body.code).toBe("deadline_exceeded");
    expect(JSON.stringify(body.details)).toContain("REQUEST_BODY_TIMEOUT");
  });
});

describe("requests without an authority", () => {
  it("answers an HTTP/1.0 request without Host with 400, and goes on serving", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(srv.url).port), "127.0.0.1", () =>
        socket.write(
          "POST /engine.cloud.v1.AuthService/WhoAmI HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        ),
      );
      let text = "";
      socket
        .on("data", (d) => (text += d))
        .on("end", () => resolve(text))
        .on("error", reject);
    });
    expect(answer.split("\r\n")[0]).toMatch(/^HTTP\/1\.[01] 400 /);
    expect((await srv.client().server.getServerInfo({})).api).toBe("engine.cloud.v1");
  });
});

describe("idle timeout", () => {
  it.each<[string, Partial<CloudClientOptions>]>([
    ["gRPC", { protocol: "grpc" }],
    ["Connect over HTTP/1.1", { protocol: "connect", httpVersion: "1.1" }],
  ])("does not cut a Watch stream that outlives the idle timeout (%s)", async (_, options) => {
    const { secret } = await tenant.token();
    const watch = recordWatch(createCloudClient({ baseUrl: srv.url, token: secret, ...options }), { project: PROJECT });
    try {
      await watch.until(isCaughtUp);
      await sleep(4 * IDLE_TIMEOUT_MS);
      const put = await putApiKey(
        tenant.admin,
        { project: PROJECT, provider: `idle-${randomBytes(4).toString("hex")}` },
        uniqueSecret(),
      );
      expect((await watch.until(changeOf(put.id))).revision).toBe(put.revision);
    } finally {
      await watch.close();
    }
  });
});
