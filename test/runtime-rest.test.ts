import { TokenKind } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loopbackOAuthApp,
  startLoopbackAuthorizationServer,
  type LoopbackAuthorizationServer,
} from "./support/loopback-authorization-server.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// The runtime REST routes of the Aden lineage (/v1/credentials…, /health),
// driven with plain fetch as that lineage's client sends them: a bearer key,
// `Content-Type: application/json` even on GET, and a JSON body expected on
// every status.

const PROVIDER = "loopback";
let srv: TestServer;
let as: LoopbackAuthorizationServer;

beforeAll(async () => {
  srv = await startTestServer({ env: { ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1" } });
  as = await startLoopbackAuthorizationServer({ redirectUris: [`${srv.url}/oauth/callback`] });
}, 60_000);
afterAll(async () => {
  await as?.close();
  await srv?.stop();
});

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function rest(
  path: string,
  key: string | undefined,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await fetch(`${srv.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      "content-type": "application/json",
      "user-agent": "hive-credential-store/1.0",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...init.headers,
    },
    body: init.method === "POST" ? "{}" : undefined,
  });
  const text = await res.text();
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
}

/** A tenant allowing "app", with a hubspot credential in it and a runtime key limited to it. */
async function runtimeTenant(): Promise<{ tenant: TestTenant; key: string; credentialId: string; secret: string }> {
  const tenant = await createTestTenant(srv, { allow: ["app", "other"] });
  const secret = uniqueSecret();
  const credential = await putApiKey(tenant.admin, { provider: "hubspot", alias: "work", project: "app" }, secret);
  const { secret: key } = await tenant.token({ kind: TokenKind.RUNTIME, projects: ["app"] });
  return { tenant, key, credentialId: credential.id, secret };
}

describe("GET /health", () => {
  it("answers healthy with the version and a UTC timestamp", async () => {
    const { status, body } = await rest("/health", undefined);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "healthy", version: expect.any(String) });
    expect(body.timestamp).toMatch(/Z$/);
  });
});

describe("the credential routes", () => {
  it("lists the key's project's credentials with both generations' field names", async () => {
    const { key, credentialId } = await runtimeTenant();
    const { status, body } = await rest("/v1/credentials", key);
    expect(status).toBe(200);
    expect(body.integrations).toEqual([
      {
        integration_id: credentialId,
        provider: "hubspot",
        integration_type: "hubspot",
        alias: "work",
        status: "active",
        email: "",
        expires_at: null,
        project: "app",
      },
    ]);
    expect(credentialId).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("returns one credential with its token", async () => {
    const { key, credentialId, secret } = await runtimeTenant();
    const { status, body } = await rest(`/v1/credentials/${credentialId}`, key);
    expect(status).toBe(200);
    expect(body).toMatchObject({ integration_id: credentialId, access_token: secret, token_type: "Bearer", provider: "hubspot" });
  });

  it("answers another tenant's id exactly as an unknown one: 404, one body", async () => {
    const a = await runtimeTenant();
    const b = await runtimeTenant();
    const theirs = await rest(`/v1/credentials/${b.credentialId}`, a.key);
    const unknown = await rest("/v1/credentials/00000000-0000-4000-8000-000000000000", a.key);
    const notAnId = await rest("/v1/credentials/..%2F..%2Fetc", a.key);
    expect(theirs.status).toBe(404);
    expect(theirs.body).toEqual({ error: "integration_not_found", message: "no such credential for this key" });
    expect(unknown).toMatchObject({ status: 404, body: theirs.body });
    expect(notAnId).toMatchObject({ status: 404, body: theirs.body });
    for (const action of ["validate", "usage", "refresh"]) {
      const method = action === "validate" ? "GET" : "POST";
      expect(await rest(`/v1/credentials/${b.credentialId}/${action}`, a.key, { method })).toMatchObject({
        status: 404,
        body: theirs.body,
      });
    }
  });

  it("refuses a revoked key and a missing one with 401 JSON", async () => {
    const { tenant, credentialId } = await runtimeTenant();
    const { id, secret } = await tenant.token({ projects: ["app"] });
    await tenant.admin.tokens.revokeToken({ id });
    for (const key of [secret, undefined]) {
      const { status, body } = await rest(`/v1/credentials/${credentialId}`, key);
      expect(status).toBe(401);
      expect(body.error).toBe("invalid_api_key");
    }
    expect((await rest("/v1/credentials", secret)).body).toMatchObject({ error: "invalid_api_key", reason: "TOKEN_REVOKED" });
  });

  it("refuses a denied project with 403 and the reason, and a project outside the key likewise", async () => {
    const { tenant, key } = await runtimeTenant();
    const outside = await rest("/v1/credentials", key, { headers: { "x-engine-project": "other" } });
    expect(outside).toMatchObject({ status: 403, body: { error: "permission_denied", reason: "PROJECT_NOT_IN_TOKEN_SCOPE" } });
    await tenant.admin.projects.denyProject({ name: "app" });
    const denied = await rest("/v1/credentials", key);
    expect(denied).toMatchObject({ status: 403, body: { error: "permission_denied", reason: "PROJECT_DENIED" } });
    expect(denied.body.message).toEqual(expect.any(String));
  });

  it("asks a key that spans several projects to name one, by header or query parameter", async () => {
    const { tenant, credentialId } = await runtimeTenant();
    const { secret: wide } = await tenant.token({ kind: TokenKind.RUNTIME });
    expect(await rest("/v1/credentials", wide)).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    const byHeader = await rest("/v1/credentials", wide, { headers: { "x-engine-project": "app" } });
    const byQuery = await rest("/v1/credentials?project=app", wide);
    for (const r of [byHeader, byQuery]) {
      expect(r.status).toBe(200);
      expect((r.body.integrations as { integration_id: string }[]).map((i) => i.integration_id)).toEqual([credentialId]);
    }
  });

  it("validates a credential", async () => {
    const { key, credentialId } = await runtimeTenant();
    const { status, body } = await rest(`/v1/credentials/${credentialId}/validate`, key);
    expect(status).toBe(200);
    expect(body).toMatchObject({ valid: true, expires_at: null, expires_in_seconds: null, requires_reauthorization: false });
  });

  it("accepts a usage report", async () => {
    const { key, credentialId } = await runtimeTenant();
    const { status, body } = await rest(`/v1/credentials/${credentialId}/usage`, key, { method: "POST" });
    expect([status, body]).toEqual([200, { received: true }]);
  });

  it("answers 429 with a whole-second Retry-After when the key goes over its rate", async () => {
    const { tenant, key } = await runtimeTenant();
    await srv.admin().tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenRequestsPerSecond: 1 } });
    let limited: Reply | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await rest("/v1/credentials", key);
      if (r.status === 429) limited = r;
    }
    expect(limited?.body).toMatchObject({ error: "rate_limited", reason: "RATE_LIMITED", retry_after: expect.any(Number) });
    expect(limited?.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
  });

  it("answers unknown routes and wrong methods with JSON", async () => {
    const { key, credentialId } = await runtimeTenant();
    expect(await rest("/v1/nothing", key)).toMatchObject({ status: 404, body: { error: "not_found" } });
    expect(await rest(`/v1/credentials/${credentialId}/refresh`, key)).toMatchObject({
      status: 405,
      body: { error: "method_not_allowed" },
    });
  });
});

describe("POST /v1/credentials/{id}/refresh", () => {
  it("answers refresh_failed without re-authorization for a credential the hub does not keep", async () => {
    const { key, credentialId } = await runtimeTenant();
    const { status, body } = await rest(`/v1/credentials/${credentialId}/refresh`, key, { method: "POST" });
    expect(status).toBe(400);
    expect(body).toMatchObject({
      error: "refresh_failed",
      reason: "CREDENTIAL_NOT_REFRESHABLE",
      requires_reauthorization: false,
    });
  });

  it("refreshes a hub-kept credential through the hub", async () => {
    const { key, id } = await connectedAccount();
    const refreshed = await rest(`/v1/credentials/${id}/refresh`, key, { method: "POST" });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ integration_id: id, provider: PROVIDER, token_type: "Bearer" });
    expect(refreshed.body.access_token).toEqual(expect.stringMatching(/.+/));
  }, 60_000);

  it("answers refresh_failed with requires_reauthorization and the URL once the provider refuses the grant", async () => {
    const { key, id } = await connectedAccount();
    as.pushFault({ kind: "status", status: 400, body: { error: "invalid_grant" } });
    const failed = await rest(`/v1/credentials/${id}/refresh`, key, { method: "POST" });
    expect(failed.status).toBe(400);
    expect(failed.body).toMatchObject({ error: "refresh_failed", requires_reauthorization: true });
    expect(failed.body.reauthorization_url).toEqual(expect.stringContaining("/console/connections/"));
  }, 60_000);
});

/** A tenant with the loopback provider connected (account "alice", project "app") and a runtime key for "app". */
async function connectedAccount(): Promise<{ key: string; id: string }> {
  const tenant = await createTestTenant(srv, { allow: ["app"] });
  await tenant.admin.oauthApps.setOAuthApp(loopbackOAuthApp(as, PROVIDER));
  const started = await tenant.admin.connections.startConnect({ provider: PROVIDER, alias: "work", project: "app" });
  expect((await fetch(await as.authorize(started.authorizationUrl, { login: "alice" }))).status).toBe(200);
  const { secret: key } = await tenant.token({ projects: ["app"] });
  const [entry] = (await rest("/v1/credentials", key)).body.integrations as { integration_id: string; expires_at: string }[];
  expect(entry.expires_at).toMatch(/Z$/);
  return { key, id: entry.integration_id };
}
