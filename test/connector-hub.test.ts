import { createHash } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import {
  ConnectFlowState,
  ConnectionStatus,
  ListConnectionsResponseSchema,
  ListOAuthAppsResponseSchema,
  type StartConnectRequest,
} from "@engine-cloud/api";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { StartConnectRequestSchema } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { LOOPBACK_PROVIDER, registerLoopbackApp } from "./support/hub-connections.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "./support/loopback-authorization-server.js";
import { createSecretScan, secretsOf } from "./support/secret-scan.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";

// The connect flow end to end over plain HTTP: the real server on loopback,
// a real authorization server (oidc-provider) beside it, and fetch playing
// the browser. The authorization server revokes the whole grant when a code
// is exchanged twice, so its events are the oracle for "exchanged once".

const HUB_ENV = { ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1" };
const PROVIDER = LOOPBACK_PROVIDER;

let srv: TestServer;
let as: LoopbackAuthorizationServer;
let acme: TestTenant;

const registerApp = (tenant: TestTenant, auth: LoopbackAuthorizationServer) => registerLoopbackApp(tenant.admin, auth);

beforeAll(async () => {
  srv = await startTestServer({ env: HUB_ENV });
  as = await startLoopbackAuthorizationServer({ redirectUris: [`${srv.url}/oauth/callback`] });
  acme = await createTestTenant(srv);
  await registerApp(acme, as);
}, 60_000);
afterAll(async () => {
  await as?.close();
  await srv?.stop();
});

type StartInit = Partial<MessageInitShape<typeof StartConnectRequestSchema>>;
const start = (init: StartInit = {}, tenant = acme) =>
  tenant.admin.connections.startConnect({ provider: PROVIDER, ...init } as StartConnectRequest);

/** The browser comes back: GET the callback URL, as the provider redirected to it. */
async function callback(url: URL | string): Promise<{ status: number; html: string; type: string | null }> {
  const res = await fetch(url, { redirect: "manual" });
  return { status: res.status, html: await res.text(), type: res.headers.get("content-type") };
}

/** Starts a flow and plays the browser up to the callback URL (not yet requested). */
async function authorizedCallback(init: StartInit = {}, login = "alice") {
  const started = await start(init);
  return { started, back: await as.authorize(started.authorizationUrl, { login }) };
}

const revocations = () => as.events.filter((e) => e.name === "grant.revoked").length;

describe("the connect flow", () => {
  it("asks for a code with state and a PKCE S256 challenge, sent back to /oauth/callback on the API's port", async () => {
    const { authorizationUrl, flow } = await start({ alias: "shape" });
    const url = new URL(authorizationUrl);
    expect(url.origin + url.pathname).toBe(`${as.issuer}/auth`);
    expect(url.searchParams.get("redirect_uri")).toBe(`${srv.url}/oauth/callback`);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("state")!.length).toBeGreaterThanOrEqual(43);
    expect(url.searchParams.get("client_id")).toBe(as.clientId);
    expect(flow?.state).toBe(ConnectFlowState.PENDING);
    const expiresIn = Number(flow!.expiresAt!.seconds) * 1000 - Date.now();
    expect(expiresIn).toBeGreaterThan(9 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(10 * 60_000 + 5_000);
  });

  it("connects end to end: the code is exchanged once and the connection is ACTIVE, with the token's expiry and the account", async () => {
    const calls = as.tokenCalls();
    const { started, back } = await authorizedCallback({ alias: "work", project: "" }, "alice");
    const page = await callback(back);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.html).toContain("Connected");
    expect(as.tokenCalls()).toBe(calls + 1);

    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    expect(flow?.state).toBe(ConnectFlowState.COMPLETED);
    const { connection } = await acme.admin.connections.getConnection({ id: flow!.connectionId });
    expect(connection).toMatchObject({
      provider: PROVIDER,
      alias: "work",
      externalAccount: "alice",
      status: ConnectionStatus.ACTIVE,
    });
    expect(connection!.scopes).toEqual(expect.arrayContaining(["openid", "offline_access"]));
    expect(connection!.generation).toBe(1n);
    const expiry = Number(connection!.accessTokenExpiresAt!.seconds) * 1000;
    expect(expiry - Date.now()).toBeGreaterThan(3000 * 1000);
    // W = min(15 min, half the lifetime) ahead of expiry, and up to a fifth of W earlier (jitter): the due time.
    const lead = expiry - Number(connection!.nextRefreshAt!.seconds) * 1000;
    expect(lead).toBeGreaterThanOrEqual(15 * 60_000 - 1000);
    expect(lead).toBeLessThanOrEqual(18 * 60_000 + 1000);
  });

  it("never exchanges a code twice: a reloaded callback answers 'already connected' and the grant is not revoked", async () => {
    const { back } = await authorizedCallback({ alias: "reload" }, "bob");
    const calls = as.tokenCalls();
    const revoked = revocations();
    const [first, second] = await Promise.all([callback(back), callback(back)]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const third = await callback(back);
    expect(third.status).toBe(409);
    expect(third.html).toContain("Already connected");
    expect(as.tokenCalls()).toBe(calls + 1);
    expect(revocations()).toBe(revoked);
  });

  it("refuses a state it never issued, without calling the token endpoint", async () => {
    const { back } = await authorizedCallback({ alias: "forged" }, "carol");
    const calls = as.tokenCalls();
    back.searchParams.set("state", "A".repeat(43));
    const page = await callback(back);
    expect(page.status).toBe(400);
    expect(page.html).toContain("unknown");
    expect(as.tokenCalls()).toBe(calls);
  });

  it("refuses a callback from the wrong issuer (RFC 9207) and fails the flow", async () => {
    const { started, back } = await authorizedCallback({ alias: "mixup" }, "dave");
    const calls = as.tokenCalls();
    back.searchParams.set("iss", "https://attacker.example");
    const page = await callback(back);
    expect(page.status).toBe(400);
    expect(as.tokenCalls()).toBe(calls);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    expect(flow).toMatchObject({ state: ConnectFlowState.FAILED, error: "issuer_mismatch" });
    // The right callback afterwards finds the flow spent.
    back.searchParams.set("iss", as.issuer);
    expect((await callback(back)).status).toBe(409);
    expect(as.tokenCalls()).toBe(calls);
  });

  it("ends a denied consent with a small page, 403 and the provider's error on the flow", async () => {
    const started = await start({ alias: "denied" });
    const back = await as.authorize(started.authorizationUrl, { login: "erin", deny: true });
    expect(back.searchParams.get("error")).toBe("access_denied");
    const page = await callback(back);
    expect(page.status).toBe(403);
    expect(page.html).toContain("Access was denied");
    expect(page.html).not.toMatch(/at .*\.(ts|js):\d+/);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    expect(flow).toMatchObject({ state: ConnectFlowState.FAILED, error: "access_denied" });
  });

  it("replaces the grant when the same account connects again: same connection, next generation", async () => {
    const first = await authorizedCallback({ alias: "again" }, "frank");
    expect((await callback(first.back)).status).toBe(200);
    const second = await authorizedCallback({ alias: "again" }, "frank");
    expect((await callback(second.back)).status).toBe(200);
    const a = (await acme.admin.connections.getConnectFlow({ id: first.started.flow!.id })).flow!;
    const b = (await acme.admin.connections.getConnectFlow({ id: second.started.flow!.id })).flow!;
    expect(b.connectionId).toBe(a.connectionId);
    const { connection } = await acme.admin.connections.getConnection({ id: b.connectionId });
    expect(connection?.generation).toBe(2n);
  });

  it("refuses a second account under an alias another account holds, and stores nothing", async () => {
    expect((await callback((await authorizedCallback({ alias: "taken" }, "kim")).back)).status).toBe(200);
    const second = await authorizedCallback({ alias: "taken" }, "lee");
    const page = await callback(second.back);
    expect(page.status).toBe(409);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: second.started.flow!.id });
    expect(flow).toMatchObject({ state: ConnectFlowState.FAILED, error: "alias_taken" });
    const { connections } = await acme.admin.connections.listConnections({ provider: PROVIDER });
    expect(connections.filter((c) => c.externalAccount === "lee")).toEqual([]);
  });

  it("holds a tenant to tenant_connections, counting neither reconnects nor disconnected connections", async () => {
    const small = await createTestTenant(srv);
    await registerApp(small, as);
    await srv.admin().tenants.setTenantLimits({ tenant: small.slug, overrides: { tenantConnections: 1 } });
    const connectAs = async (login: string, alias: string) => {
      const started = await start({ alias }, small);
      return { started, page: await callback(await as.authorize(started.authorizationUrl, { login })) };
    };
    const first = await connectAs("mia", "one");
    expect(first.page.status).toBe(200);
    expect((await connectAs("mia", "one")).page.status).toBe(200);
    const over = await connectAs("ned", "two");
    expect(over.page.status).toBe(409);
    expect((await small.admin.connections.getConnectFlow({ id: over.started.flow!.id })).flow?.error).toBe("connection_quota");
    const { flow } = await small.admin.connections.getConnectFlow({ id: first.started.flow!.id });
    await small.admin.connections.disconnectConnection({ id: flow!.connectionId });
    expect((await connectAs("ned", "two")).page.status).toBe(200);
  });

  it("disconnects: tokens erased, DISCONNECTED, and the grant revoked at the provider (RFC 7009)", async () => {
    const { started, back } = await authorizedCallback({ alias: "bye" }, "gina");
    await callback(back);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    const revoked = revocations();
    const res = await acme.admin.connections.disconnectConnection({ id: flow!.connectionId });
    expect(res.revokedAtProvider).toBe(true);
    expect(revocations()).toBe(revoked + 1);
    expect(res.connection?.status).toBe(ConnectionStatus.DISCONNECTED);
    expect(res.connection?.accessTokenExpiresAt).toBeUndefined();
    expect(res.connection?.nextRefreshAt).toBeUndefined();
    const row = await srv.server.app.storage.db
      .selectFrom("connections")
      .select("sealed_tokens")
      .where("id", "=", flow!.connectionId)
      .executeTakeFirstOrThrow();
    expect(row.sealed_tokens).toBeNull();
  });

  it("disconnects even when the provider cannot be reached, saying the revocation did not happen", async () => {
    const { started, back } = await authorizedCallback({ alias: "bye-offline" }, "gina2");
    await callback(back);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    as.pushFault({ kind: "drop" });
    const res = await acme.admin.connections.disconnectConnection({ id: flow!.connectionId });
    expect(res.connection?.status).toBe(ConnectionStatus.DISCONNECTED);
    expect(res.revokedAtProvider).toBe(false);
  });

  it("answers a catalog provider without an app with NOT_FOUND OAUTH_APP_NOT_FOUND, and an unknown one with PROVIDER_UNKNOWN", async () => {
    expect(await failureOf(start({ provider: "hubspot" }))).toMatchObject({
      codeName: "not_found",
      reason: "OAUTH_APP_NOT_FOUND",
    });
    expect(await failureOf(start({ provider: "no-such-provider" }))).toMatchObject({
      codeName: "not_found",
      reason: "PROVIDER_UNKNOWN",
    });
  });

  it("lists the catalog (hubspot, google, salesforce, microsoft, …) and the tenant's custom provider", async () => {
    const { providers } = await acme.admin.connections.listProviders({});
    const ids = providers.map((p) => p.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        "hubspot",
        "google",
        "google_calendar",
        "salesforce",
        "microsoft",
        "slack",
        "github",
        "zoho",
        PROVIDER,
      ]),
    );
    expect(providers.find((p) => p.id === "salesforce")).toMatchObject({
      tokenMetadata: ["instance_url"],
      urlParameters: ["my_domain"],
    });
    expect(providers.find((p) => p.id === PROVIDER)?.custom).toBe(true);
  });

  it("refuses a custom provider whose token endpoint is on a private address", async () => {
    const beta = await createTestTenant(srv);
    await beta.admin.oauthApps.setOAuthApp({
      provider: "intranet",
      clientId: "x",
      customProvider: { id: "intranet", authorizeUrl: "https://login.example.com/auth", tokenUrl: "https://10.0.0.7/token" },
    });
    expect(await failureOf(start({ provider: "intranet" }, beta))).toMatchObject({ codeName: "invalid_argument" });
  });
});

describe("what the database holds", () => {
  const db = () => srv.server.app.storage.db;

  it("keeps a flow's state only as its SHA-256", async () => {
    const { authorizationUrl, flow } = await start({ alias: "hashed" });
    const state = new URL(authorizationUrl).searchParams.get("state")!;
    const row = await db().selectFrom("oauth_flows").selectAll().where("id", "=", flow!.id).executeTakeFirstOrThrow();
    expect(Buffer.from(row.state_hash).equals(createHash("sha256").update(state).digest())).toBe(true);
    expect(JSON.stringify(row)).not.toContain(state);
  });

  it("keeps the tokens and the client secret sealed, never in plain text", async () => {
    const issuedBefore = new Set(as.issuedTokens);
    const { started, back } = await authorizedCallback({ alias: "sealed" }, "olga");
    await callback(back);
    const mine = [...as.issuedTokens].filter((t) => !issuedBefore.has(t));
    expect(mine.length).toBeGreaterThanOrEqual(2);
    const { flow } = await acme.admin.connections.getConnectFlow({ id: started.flow!.id });
    const connection = await db()
      .selectFrom("connections")
      .selectAll()
      .where("id", "=", flow!.connectionId)
      .executeTakeFirstOrThrow();
    const app = await db()
      .selectFrom("oauth_apps")
      .selectAll()
      .where("tenant_id", "=", acme.id)
      .where("provider", "=", PROVIDER)
      .executeTakeFirstOrThrow();
    const stored = Buffer.concat([
      Buffer.from(JSON.stringify(connection)),
      Buffer.from(connection.sealed_tokens!),
      Buffer.from(app.sealed_secret!),
    ]);
    for (const secret of [...mine, as.clientSecret]) expect(stored.includes(secret)).toBe(false);
  });
});

describe("an expired connect flow", () => {
  it("answers 410 and never calls the token endpoint", async () => {
    const short = await startTestServer({ env: { ...HUB_ENV, ENGINE_CLOUD_HUB_CONNECT_FLOW_TTL_MS: "1000" } });
    const auth = await startLoopbackAuthorizationServer({ redirectUris: [`${short.url}/oauth/callback`] });
    try {
      const tenant = await createTestTenant(short);
      await registerApp(tenant, auth);
      const started = await tenant.admin.connections.startConnect({ provider: PROVIDER });
      const back = await auth.authorize(started.authorizationUrl);
      await new Promise((r) => setTimeout(r, 1200));
      const page = await callback(back);
      expect(page.status).toBe(410);
      expect(auth.tokenCalls()).toBe(0);
      const { flow } = await tenant.admin.connections.getConnectFlow({ id: started.flow!.id });
      expect(flow?.state).toBe(ConnectFlowState.EXPIRED);
    } finally {
      await auth.close();
      await short.stop();
    }
  }, 60_000);
});

describe("secrets of the hub", () => {
  it("never shows a token or the client secret in the server's log, a listing, or an error", async () => {
    const { back } = await authorizedCallback({ alias: "scan" }, "hank");
    await callback(back);
    const failed = await authorizedCallback({ alias: "scan-fail" }, "ivan");
    as.pushFault({
      kind: "status",
      status: 400,
      body: { error: "invalid_grant", error_description: "grant request is invalid" },
    });
    expect((await callback(failed.back)).status).toBe(502);

    // The callback's query is a one-time code and the state: neither is logged with the route's line.
    expect(srv.logs.some((l) => l.includes("GET /oauth/callback"))).toBe(true);
    expect(as.issuedTokens.size).toBeGreaterThanOrEqual(2);
    const scan = createSecretScan();
    scan.addLog(srv.logs.join("\n"));
    scan.addText("a listing", toJsonString(ListConnectionsResponseSchema, await acme.admin.connections.listConnections({})));
    scan.addText("a listing", toJsonString(ListOAuthAppsResponseSchema, await acme.admin.oauthApps.listOAuthApps({})));
    const state = back.searchParams.get("state")!;
    expect(scan.leaks(secretsOf(as))).toEqual([]);
    expect(srv.logs.join("\n").includes(state), "the state in the server log").toBe(false);
    const { apps } = await acme.admin.oauthApps.listOAuthApps({ provider: PROVIDER });
    expect(apps[0]).toMatchObject({ clientId: as.clientId, hasClientSecret: true });
  });
});
