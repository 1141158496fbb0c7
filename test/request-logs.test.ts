import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@engine-cloud/server";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { spawnServer, startTestServer, type TestServer } from "./support/test-server.js";
import { apiKeyRequest, clientOf, createTestTenant, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// The request log an operator reads: JSON by default, readable lines on a
// terminal or when asked; every request line names its request, its trace,
// its tenant and who acted; no secret in any line, whatever the format.

const { defer } = perTestCleanup();

const rpcLines = (server: TestServer) =>
  server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "rpc");

describe("request lines", () => {
  let server: TestServer;
  let tenant: TestTenant;
  beforeAll(async () => {
    server = await startTestServer();
    tenant = await createTestTenant(server);
  });
  afterAll(() => server?.stop());

  it("carry the request id, the caller's trace id, the tenant and the actor", async () => {
    const traceId = randomBytes(16).toString("hex");
    const requestId = `req-${randomBytes(4).toString("hex")}`;
    await tenant.admin.tokens.listTokens(
      {},
      { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`, "x-request-id": requestId } },
    );
    const line = rpcLines(server).find((l) => l.request_id === requestId)!;
    expect(line).toMatchObject({
      method: "engine.cloud.v1.TokenService/ListTokens",
      code: "OK",
      trace_id: traceId,
      tenant: tenant.id,
      actor: expect.stringMatching(/^token:/),
    });
  });

  it("start a trace of their own when the caller sent none or a malformed one, and return it", async () => {
    for (const traceparent of [undefined, "00-00000000000000000000000000000000-0000000000000001-01", "garbage"]) {
      const res = await fetch(`${server.url}/healthz`, { headers: traceparent ? { traceparent } : {} });
      const requestId = res.headers.get("x-request-id");
      const echoed = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.headers.get("traceresponse") ?? "");
      expect(echoed, `traceresponse for ${traceparent}`).not.toBeNull();
      expect(echoed![1]).not.toMatch(/^0+$/);
      const line = server.logs.map((l) => JSON.parse(l)).find((l) => l.request_id === requestId);
      expect(line.trace_id).toBe(echoed![1]);
    }
  });

  it("return the caller's trace id on RPC answers and errors alike", async () => {
    const traceId = randomBytes(16).toString("hex");
    const calls = [
      { token: server.adminToken, path: "ServerService/GetServerInfo", status: 200 },
      { token: "ec_not-a-token", path: "TokenService/ListTokens", status: 401 },
    ];
    for (const { token, path, status } of calls) {
      const res = await fetch(`${server.url}/engine.cloud.v1.${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`,
        },
        body: "{}",
      });
      expect(res.status).toBe(status);
      expect(res.headers.get("traceresponse"), path).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
  });

  it("hold no token or credential secret", async () => {
    const secret = uniqueSecret();
    const { secret: runtime } = await tenant.token();
    await tenant.admin.credentials.putCredential(apiKeyRequest({ provider: "logs" }, secret));
    await clientOf(server, runtime, { tenant: tenant.slug })
      .credentials.listCredentials({})
      .catch(() => {});
    const all = server.logs.join("\n");
    for (const s of [secret, runtime, server.adminToken]) expect(all).not.toContain(s);
  });
});

describe("readable lines", () => {
  it("lead with the time, the level, the message, the method, the code and the duration", () => {
    const lines: string[] = [];
    const log = createLogger("info", (l) => lines.push(l), "pretty");
    log.info("rpc", {
      request_id: "r1",
      method: "engine.cloud.v1.TokenService/ListTokens",
      code: "OK",
      duration_ms: 2.5,
      tenant: undefined,
      note: "two words",
    });
    expect(lines[0]).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} INFO {2}rpc engine\.cloud\.v1\.TokenService\/ListTokens OK 2\.5ms request_id=r1 note="two words"\n$/,
    );
  });

  it("are what the server writes with ENGINE_CLOUD_LOG_FORMAT=pretty", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-pretty-"));
    const child = spawnServer({
      ENGINE_CLOUD_LOG_FORMAT: "pretty",
      ENGINE_CLOUD_DATA_DIR: dataDir,
      ENGINE_CLOUD_TOKEN: "p".repeat(40),
    });
    defer(async () => {
      child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await expect.poll(() => out, { timeout: 60_000, interval: 100 }).toMatch(/ INFO {2}listening url=http:\/\/127\.0\.0\.1:\d+ /);
    expect(out).not.toMatch(/^\{/m);
    expect(out).not.toContain("p".repeat(40));
  });
});
