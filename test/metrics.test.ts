import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "@engine-cloud/api";
import { createSyncProvider } from "@engine-cloud/sdk/node";
import { failureOf } from "./support/expect-error.js";
import { onPostgres } from "./support/test-database.js";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { apiKeyRequest, clientOf, createTestTenant, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// GET /metrics, scraped and parsed as Prometheus would: off unless configured,
// behind its token on the public port, alone on its own address, and carrying
// the figures docs/OPERATIONS.md tells operators to alert on, without a tenant id.

const { defer } = perTestCleanup();
const METRICS_TOKEN = randomBytes(24).toString("hex");

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition format 0.0.4: `# HELP`/`# TYPE` lines and `name{label="value",…} number` samples. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

async function scrape(url: string, token = METRICS_TOKEN) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, ...parseExposition(text) };
}

describe("metrics on the public port, behind a token", () => {
  let server: TestServer;
  let tenant: TestTenant;
  beforeAll(async () => {
    server = await startTestServer({ env: { ENGINE_CLOUD_METRICS_TOKEN: METRICS_TOKEN } });
    tenant = await createTestTenant(server, { allow: ["metrics"] });
  });
  afterAll(() => server?.stop());

  it("refuses a scrape without the token, or with another one", async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${"x".repeat(48)}` } });
    expect(wrong.status).toBe(401);
  });

  it("counts RPCs by service, method and code, and times the unary ones", async () => {
    await tenant.admin.tokens.listTokens({});
    const bad = await failureOf(clientOf(server, "ec_not-a-token").tokens.listTokens({}));
    expect(bad.code).toBeDefined();
    const { samples, types } = await scrape(`${server.url}/metrics`);
    const ok = { service: "engine.cloud.v1.TokenService", method: "ListTokens", code: "OK" };
    expect(valueOf(samples, "engine_cloud_rpc_requests_total", ok)).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, "engine_cloud_rpc_requests_total", { ...ok, code: "Unauthenticated" })).toBeGreaterThanOrEqual(1);
    expect(types.get("engine_cloud_rpc_duration_seconds")).toBe("histogram");
    expect(valueOf(samples, "engine_cloud_rpc_duration_seconds_count", ok)).toBeGreaterThanOrEqual(1);
  });

  it("names plain HTTP routes, and files every other path under one label", async () => {
    await fetch(`${server.url}/readyz`);
    await fetch(`${server.url}/no/such/${randomBytes(4).toString("hex")}`);
    const { samples } = await scrape(`${server.url}/metrics`);
    const http = samples.filter((s) => s.name === "engine_cloud_rpc_requests_total" && s.labels.service === "http");
    expect(http.map((s) => s.labels.method).sort()).toEqual(expect.arrayContaining(["/readyz", "unmatched"]));
    expect(http.every((s) => ["/healthz", "/readyz", "/metrics", "/oauth/callback", "unmatched"].includes(s.labels.method))).toBe(
      true,
    );
  });

  it("shows an open Watch stream by protocol while it is open, and not after", async () => {
    const { secret } = await tenant.token({ projects: ["metrics"] });
    const provider = createSyncProvider({ baseUrl: server.url, token: secret, project: "metrics", env: {} });
    await provider.start();
    await provider.waitForSync();
    const open = await scrape(`${server.url}/metrics`);
    expect(valueOf(open.samples, "engine_cloud_open_streams")).toBeGreaterThanOrEqual(1);
    const protocols = open.samples.filter((s) => s.name === "engine_cloud_open_streams" && s.value > 0);
    expect(protocols.map((s) => s.labels.protocol)).toEqual(expect.arrayContaining([expect.stringMatching(/^(grpc|connect)/)]));
    await provider.close();
    await expect.poll(async () => valueOf((await scrape(`${server.url}/metrics`)).samples, "engine_cloud_open_streams")).toBe(0);
  });

  it("times the fan-out of a write to the streams", async () => {
    const { secret } = await tenant.token({ projects: ["metrics"] });
    const provider = createSyncProvider({ baseUrl: server.url, token: secret, project: "metrics", env: {} });
    defer(() => provider.close());
    await provider.start();
    await provider.waitForSync();
    const before = valueOf((await scrape(`${server.url}/metrics`)).samples, "engine_cloud_fanout_seconds_count");
    await tenant.admin.credentials.putCredential(apiKeyRequest({ project: "metrics", provider: "fanout" }, uniqueSecret()));
    await expect
      .poll(async () => valueOf((await scrape(`${server.url}/metrics`)).samples, "engine_cloud_fanout_seconds_count"))
      .toBeGreaterThan(before);
  });

  it("counts sign-ins refused by the throttle", async () => {
    const email = `nobody-${randomBytes(4).toString("hex")}@example.com`;
    let throttled = false;
    for (let i = 0; i < 20 && !throttled; i++) {
      const err = await failureOf(clientOf(server, "").auth.login({ email, password: "wrong-password-1234" }));
      throttled = err.reason === ErrorReason[ErrorReason.LOGIN_THROTTLED];
    }
    expect(throttled).toBe(true);
    const { samples } = await scrape(`${server.url}/metrics`);
    expect(valueOf(samples, "engine_cloud_login_throttled_total", { reason: "LOGIN_THROTTLED" })).toBeGreaterThanOrEqual(1);
  });

  it("carries process figures, the change feed's state, the build, and the hub and audit seams", async () => {
    const { samples, text } = await scrape(`${server.url}/metrics`);
    expect(valueOf(samples, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === "nodejs_eventloop_lag_p99_seconds")).toBe(true);
    expect(valueOf(samples, "engine_cloud_change_feed_connected")).toBe(1);
    expect(valueOf(samples, "engine_cloud_build_info")).toBe(1);
    for (const name of [
      "engine_cloud_change_feed_lag_seconds",
      "engine_cloud_change_feed_reconnects_total",
      "engine_cloud_hub_refreshes_total",
      "engine_cloud_audit_writes_total",
      "engine_cloud_limited_total",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it("never labels anything with a tenant, a token or a secret", async () => {
    const { secret, id } = await tenant.token({ projects: ["metrics"] });
    await clientOf(server, secret, { tenant: tenant.slug })
      .sync.pull({ project: "metrics", sinceRevision: 0n })
      .catch(() => {});
    const { text } = await scrape(`${server.url}/metrics`);
    for (const forbidden of [tenant.id, tenant.slug, id, secret, server.adminToken, METRICS_TOKEN]) {
      expect(text).not.toContain(forbidden);
    }
  });

  it("counts the statements sent to the database: an RPC that reads it adds to the count", async () => {
    const statements = async () =>
      (await scrape(`${server.url}/metrics`)).samples.find((s) => s.name === "engine_cloud_db_statements_total")?.value;
    const idle = await statements();
    expect(idle).toBeGreaterThan(0);
    await tenant.admin.projects.listProjects({});
    const after = await statements();
    expect(after! - idle!).toBeGreaterThanOrEqual(2);
    expect(after! - idle!).toBeLessThan(50);
  });

  it.runIf(onPostgres)("reports the database pool's use", async () => {
    const { samples } = await scrape(`${server.url}/metrics`);
    expect(samples.some((s) => s.name === "engine_cloud_db_pool_connections" && s.labels.state === "idle")).toBe(true);
    expect(samples.some((s) => s.name === "engine_cloud_db_pool_waiting")).toBe(true);
  });
});

describe("where metrics are served", () => {
  it("serves none unless configured", async () => {
    const server = await startTestServer();
    defer(() => server.stop());
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    expect(server.server.metricsUrl).toBeUndefined();
  });

  it("serves them alone on ENGINE_CLOUD_METRICS_ADDR, and not on the public port", async () => {
    const server = await startTestServer({ env: { ENGINE_CLOUD_METRICS_ADDR: "127.0.0.1:0" } });
    defer(() => server.stop());
    expect(server.server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const { samples } = await scrape(server.server.metricsUrl!, "");
    expect(valueOf(samples, "engine_cloud_build_info")).toBe(1);
    expect((await fetch(server.server.metricsUrl!.replace("/metrics", "/healthz"))).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });

  it("asks for the token on the metrics address too when one is set", async () => {
    const server = await startTestServer({
      env: { ENGINE_CLOUD_METRICS_ADDR: "127.0.0.1:0", ENGINE_CLOUD_METRICS_TOKEN: METRICS_TOKEN },
    });
    defer(() => server.stop());
    expect((await fetch(server.server.metricsUrl!)).status).toBe(401);
    await scrape(server.server.metricsUrl!);
  });
});

describe.runIf(onPostgres)("metrics across replicas", () => {
  it("measures the change feed's lag from another replica's write", async () => {
    const first = await startTestServer({ env: { ENGINE_CLOUD_METRICS_TOKEN: METRICS_TOKEN } });
    defer(() => first.stop());
    const second = await startTestServer({
      database: first.database,
      env: { ENGINE_CLOUD_TOKEN: first.adminToken, ENGINE_CLOUD_METRICS_TOKEN: METRICS_TOKEN },
    });
    defer(() => second.server.stop());
    const tenant = await createTestTenant(first);
    await tenant.admin.credentials.putCredential(apiKeyRequest({ provider: "lag" }, uniqueSecret()));
    await expect
      .poll(async () => valueOf((await scrape(`${second.url}/metrics`)).samples, "engine_cloud_change_feed_lag_seconds_count"))
      .toBeGreaterThan(0);
  });
});
