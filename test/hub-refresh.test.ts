import { ConnectionStatus, CredentialType, type Credential, type OAuthProvider } from "@engine-cloud/api";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { OAuthProviderSchema } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli } from "./support/cli-process.js";
import { failureOf } from "./support/expect-error.js";
import {
  startLoopbackAuthorizationServer,
  type LoopbackAuthorizationServer,
  type LoopbackOptions,
} from "./support/loopback-authorization-server.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "./support/test-tenant.js";
import { recordWatch, type WatchRecorder } from "./support/watch-recorder.js";

// The hub's refresh engine against a real authorization server (oidc-provider
// on loopback, strict refresh-token replay detection: a double refresh shows
// up as a revoked grant) and a real runtime holding a Watch stream. One server,
// its engine polling every 200 ms with small backoffs; each test has an
// authorization server of its own (its own custom provider), so the token
// calls it counts are its own.

const HUB_ENV = {
  ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1",
  ENGINE_CLOUD_HUB_POLL_MS: "200",
  ENGINE_CLOUD_HUB_LEASE_MS: "3000",
  ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS: "1000",
  ENGINE_CLOUD_HUB_BACKOFF_BASE_MS: "100",
  ENGINE_CLOUD_HUB_BACKOFF_CAP_MS: "400",
  ENGINE_CLOUD_HUB_FLOW_RETENTION_MS: "0",
};
const PROJECT = "p1";

let srv: TestServer;
let acme: TestTenant;
let runtime: CloudClient;
let watch: WatchRecorder;
const servers: LoopbackAuthorizationServer[] = [];

beforeAll(async () => {
  assertCliBuilt();
  srv = await startTestServer({ env: HUB_ENV });
  acme = await createTestTenant(srv, { allow: [PROJECT] });
  runtime = clientOf(srv, (await acme.token()).secret);
  watch = recordWatch(runtime, { project: PROJECT });
  await watch.until((e) => e.event.case === "caughtUp");
}, 60_000);
afterAll(async () => {
  await watch?.close();
  for (const s of servers) await s.close();
  await srv?.stop();
});

let providers = 0;
type ProviderInit = Partial<MessageInitShape<typeof OAuthProviderSchema>>;

/** An authorization server of the test's own, registered as a custom provider of `tenant`. */
async function providerFor(options: Partial<LoopbackOptions> = {}, extra: ProviderInit = {}, tenant = acme) {
  const as = await startLoopbackAuthorizationServer({ redirectUris: [`${srv.url}/oauth/callback`], ...options });
  servers.push(as);
  const id = `loop${++providers}`;
  await tenant.admin.oauthApps.setOAuthApp({
    provider: id,
    clientId: as.clientId,
    clientSecret: as.clientSecret,
    customProvider: {
      id,
      displayName: "Loopback",
      authorizeUrl: `${as.issuer}/auth`,
      tokenUrl: `${as.issuer}/token`,
      revocationUrl: `${as.issuer}/token/revocation`,
      issuer: as.issuer,
      defaultScopes: ["openid", "offline_access"],
      pkce: true,
      authorizeParams: { prompt: "consent" },
      ...extra,
    } as OAuthProvider,
  });
  return { as, id };
}

/** Connects `login`'s account through the browser flow; resolves to the connection id once the callback is done. */
async function connect(p: { as: LoopbackAuthorizationServer; id: string }, login = "alice", tenant = acme, alias = login) {
  const { authorizationUrl, flow } = await tenant.admin.connections.startConnect({ provider: p.id, alias });
  const back = await p.as.authorize(authorizationUrl, { login });
  const page = await fetch(back, { redirect: "manual" });
  expect(page.status, await page.text()).toBe(200);
  const done = await tenant.admin.connections.getConnectFlow({ id: flow!.id });
  return done.flow!.connectionId;
}

const credentialsOf = (provider: string) =>
  watch.events.flatMap((e) => (e.event.case === "upsert" && e.event.value.provider === provider ? [e.event.value] : []));
const statusesOf = (provider: string) =>
  credentialsOf(provider)
    .map((c) => c.connection!.status)
    .filter((s, i, all) => i === 0 || all[i - 1] !== s);
const generationOf = (c: Credential) => Number(c.metadata.generation);
const revokedGrants = (as: LoopbackAuthorizationServer) => as.events.filter((e) => e.name === "grant.revoked").length;

async function eventually<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until)
      throw new Error(
        `not reached within ${timeoutMs} ms; last: ${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x))}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** The id of the credential the stream delivered for a connection. */
async function streamedCredentialId(connectionId: string): Promise<string> {
  const e = await watch.until((e) => e.event.case === "upsert" && e.event.value.connection?.id === connectionId);
  return e.event.case === "upsert" ? e.event.value.id : "";
}
const connectionOf = async (id: string, tenant = acme) => (await tenant.admin.connections.getConnection({ id })).connection!;

describe("what runtimes receive", () => {
  it("streams the access token within a second of connect, then a fresh one before each expiry with at least W/2 left, generations strictly increasing", async () => {
    const p = await providerFor({ accessTokenTtl: 3 });
    const received: Array<{ at: number; credential: Credential }> = [];
    const seen = new Set<unknown>();
    const stamp = setInterval(() => {
      for (const c of credentialsOf(p.id)) if (!seen.has(c)) seen.add(c) && received.push({ at: Date.now(), credential: c });
    }, 10);
    try {
      const id = await connect(p, "stream");
      // connect() returns once the callback has answered: the credential was committed before that answer.
      const connected = Date.now();
      await eventually(
        () => received.length,
        (n) => n >= 1,
        1000,
      );
      expect(received[0].at - connected).toBeLessThan(1000);
      await eventually(
        () => received.length,
        (n) => n >= 5,
        12_000,
      );
      const lifetimeMs = 3000;
      const w = Math.min(15 * 60_000, lifetimeMs / 2);
      for (const { at, credential } of received) {
        expect(credential.type).toBe(CredentialType.OAUTH2);
        expect(credential.connection).toMatchObject({ id, status: ConnectionStatus.ACTIVE });
        expect(credential.connection!.reauthorizeUrl).toBe(`${srv.url}/console/connections/${id}`);
        expect(Object.keys(credential.keys)).toEqual(["access_token"]);
        const expiresAt = Number(credential.keys.access_token.expiresAt!.seconds) * 1000;
        expect(expiresAt - at).toBeGreaterThanOrEqual(w / 2 - 1000); // expiry has second precision
      }
      const generations = received.map((r) => generationOf(r.credential));
      expect(generations).toEqual([...generations].sort((a, b) => a - b));
      expect(new Set(generations).size).toBe(generations.length);
      // The latest token is live at the provider; no refresh token ever reached the stream; no double refresh.
      expect(await p.as.isActive(received.at(-1)!.credential.keys.access_token.value)).toBe(true);
      const streamed = JSON.stringify(watch.events, (_k, x) => (typeof x === "bigint" ? String(x) : x));
      for (const rt of p.as.refreshTokens) expect(streamed).not.toContain(rt);
      expect(revokedGrants(p.as)).toBe(0);
      expect(p.as.events.filter((e) => e.name === "grant.error")).toEqual([]);
      await acme.admin.connections.disconnectConnection({ id });
      await watch.until((e) => e.event.case === "delete" && e.event.value.provider === p.id);
    } finally {
      clearInterval(stamp);
    }
  });

  it("refuses PutCredential and DeleteCredential on a hub-managed credential", async () => {
    const p = await providerFor();
    const id = await connect(p, "managed");
    const credentialId = await streamedCredentialId(id);
    const put = await failureOf(
      acme.admin.credentials.putCredential({
        provider: p.id,
        alias: "managed",
        type: CredentialType.OAUTH2,
        keys: { access_token: { value: "pasted" } },
      }),
    );
    expect(put).toMatchObject({ codeName: "failed_precondition", reason: "CREDENTIAL_MANAGED_BY_HUB" });
    const del = await failureOf(acme.admin.credentials.deleteCredential({ id: credentialId }));
    expect(del).toMatchObject({ codeName: "failed_precondition", reason: "CREDENTIAL_MANAGED_BY_HUB" });
  });
});

describe("failure classes", () => {
  it("503 three times, then OK: exactly four token calls, DEGRADED then ACTIVE", async () => {
    const p = await providerFor();
    const id = await connect(p, "flaky");
    const calls = p.as.tokenCalls();
    for (let i = 0; i < 3; i++) p.as.pushFault({ kind: "status", status: 503 });
    const first = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(first.status).toBe(ConnectionStatus.DEGRADED);
    await eventually(
      () => connectionOf(id),
      (c) => c.generation === 2n,
    );
    expect(p.as.tokenCalls() - calls).toBe(4);
    expect((await connectionOf(id)).status).toBe(ConnectionStatus.ACTIVE);
    await eventually(
      () => statusesOf(p.id),
      (s) => s.length === 3,
    );
    expect(statusesOf(p.id)).toEqual([ConnectionStatus.ACTIVE, ConnectionStatus.DEGRADED, ConnectionStatus.ACTIVE]);
  });

  it("honours Retry-After: the next attempt is scheduled no sooner than the provider asked", async () => {
    const p = await providerFor();
    const id = await connect(p, "throttled");
    const calls = p.as.tokenCalls();
    p.as.pushFault({ kind: "status", status: 429, retryAfter: "2" });
    const throttled = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(throttled.status).toBe(ConnectionStatus.DEGRADED);
    const wait = Number(throttled.nextRefreshAt!.seconds) - Number(throttled.updatedAt!.seconds);
    expect(wait).toBeGreaterThanOrEqual(1); // seconds precision of 2 s after updated_at
    expect(p.as.tokenCalls() - calls).toBe(1);
    await eventually(
      () => connectionOf(id),
      (c) => c.status === ConnectionStatus.ACTIVE,
      6000,
    );
    expect(p.as.tokenCalls() - calls).toBe(2);
  });

  it("provider down for three lifetimes: ACTIVE → DEGRADED → STALE → ACTIVE, never NEEDS_REAUTH", async () => {
    const p = await providerFor({ accessTokenTtl: 2 });
    const id = await connect(p, "outage");
    p.as.outage = true;
    await eventually(
      () => statusesOf(p.id),
      (s) => s.includes(ConnectionStatus.STALE),
      8000,
    );
    await new Promise((r) => setTimeout(r, 6000 - 2000));
    p.as.outage = false;
    await eventually(
      () => statusesOf(p.id),
      (s) => s.at(-1) === ConnectionStatus.ACTIVE && s.length > 1,
      5000,
    );
    expect(statusesOf(p.id)).toEqual([
      ConnectionStatus.ACTIVE,
      ConnectionStatus.DEGRADED,
      ConnectionStatus.STALE,
      ConnectionStatus.ACTIVE,
    ]);
    expect((await connectionOf(id)).status).toBe(ConnectionStatus.ACTIVE);
    expect(revokedGrants(p.as)).toBe(0);
  });

  it("a revoked refresh token: NEEDS_REAUTH on the stream within 5 s, with the provider's words, and no further token calls", async () => {
    const p = await providerFor({ accessTokenTtl: 4 });
    const id = await connect(p, "revoked");
    await p.as.revoke(p.as.refreshTokens.at(-1)!);
    const event = await watch.until(
      (e) =>
        e.event.case === "upsert" &&
        e.event.value.connection?.status === ConnectionStatus.NEEDS_REAUTH &&
        e.event.value.connection.id === id,
      5000 + 2000,
    );
    const link = event.event.case === "upsert" ? event.event.value.connection! : undefined;
    expect(link).toMatchObject({ statusReason: "invalid_grant" });
    const connection = await connectionOf(id);
    expect(connection.status).toBe(ConnectionStatus.NEEDS_REAUTH);
    expect(connection.nextRefreshAt).toBeUndefined();
    const calls = p.as.tokenCalls();
    await new Promise((r) => setTimeout(r, 1500));
    expect(p.as.tokenCalls()).toBe(calls);
    const refused = await failureOf(acme.admin.connections.refreshConnection({ id }));
    expect(refused).toMatchObject({ codeName: "failed_precondition", reason: "CONNECTION_NEEDS_REAUTH" });
    expect(refused.metadata?.reauthorize_url ?? "").toContain(`/console/connections/${id}`);
  });

  it("an answer lost after the provider rotated: one retry with the same refresh token, then NEEDS_REAUTH rotation_lost, never a loop", async () => {
    const p = await providerFor({ rotateRefreshTokens: true });
    const id = await connect(p, "lost");
    const calls = p.as.tokenCalls();
    p.as.pushFault({ kind: "delay", ms: 1500 });
    const after = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(after).toMatchObject({ status: ConnectionStatus.NEEDS_REAUTH, statusReason: "rotation_lost" });
    expect(p.as.tokenCalls() - calls).toBe(2);
    await new Promise((r) => setTimeout(r, 1000));
    expect(p.as.tokenCalls() - calls).toBe(2);
  });

  it("an answer cut after the provider rotated (drop-after-commit): exactly one retry, then NEEDS_REAUTH rotation_lost on the stream, no further call", async () => {
    const p = await providerFor({ rotateRefreshTokens: true });
    const id = await connect(p, "cut");
    const calls = p.as.tokenCalls();
    p.as.pushFault({ kind: "drop-after-commit" });
    const after = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(after).toMatchObject({ status: ConnectionStatus.NEEDS_REAUTH, statusReason: "rotation_lost" });
    // The first call rotated at the provider and its answer was lost; the retry replayed the spent token.
    expect(p.as.tokenCalls() - calls).toBe(2);
    expect(p.as.refreshes.get("cut")).toBe(1);
    await eventually(
      () => statusesOf(p.id),
      (s) => s.at(-1) === ConnectionStatus.NEEDS_REAUTH,
    );
    expect(statusesOf(p.id)).toEqual([ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(p.as.tokenCalls() - calls).toBe(2);
  });

  it("invalid_grant after losing the race to a reconnect is not a failure: the new grant stands, ACTIVE, never NEEDS_REAUTH", async () => {
    const p = await providerFor({ rotateRefreshTokens: true });
    const id = await connect(p, "race");
    const before = await connectionOf(id);
    const old = p.as.refreshTokens.at(-1)!;
    // The refresh's call is held at the provider's door while the same account is connected again, which replaces
    // the grant and revokes the refresh token the call carries: let through, it is answered invalid_grant.
    let release!: () => void;
    p.as.pushFault({ kind: "hold", until: new Promise<void>((r) => (release = r)) });
    const calls = p.as.tokenCalls();
    const refreshing = acme.admin.connections.refreshConnection({ id });
    await eventually(
      () => p.as.tokenCalls(),
      (n) => n > calls,
    );
    expect(await connect(p, "race")).toBe(id);
    await eventually(
      () => p.as.isActive(old),
      (active) => !active,
    );
    const errors = p.as.events.filter((e) => e.name === "grant.error").length;
    release();
    const after = (await refreshing).connection!;
    expect(p.as.events.filter((e) => e.name === "grant.error").slice(errors)).toEqual([
      expect.objectContaining({ detail: expect.stringContaining("invalid_grant") }),
    ]);
    expect(after).toMatchObject({ status: ConnectionStatus.ACTIVE, generation: before.generation + 1n });
    expect(await p.as.isActive(p.as.refreshTokens.at(-1)!)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(statusesOf(p.id)).toEqual([ConnectionStatus.ACTIVE]);
    expect((await connectionOf(id)).status).toBe(ConnectionStatus.ACTIVE);
  });

  it("a provider back from an outage is not stormed: 12 connections due at once, never more than 5 token calls open", async () => {
    const p = await providerFor({ rotateRefreshTokens: false });
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => connect(p, `storm-${i}`)));
    p.as.outage = true;
    // Each refused once by hand, then retried by the engine on its backoff (100–400 ms) for as long as the outage lasts.
    for (const id of ids) {
      expect((await acme.admin.connections.refreshConnection({ id })).connection!.status).toBe(ConnectionStatus.DEGRADED);
    }
    await new Promise((r) => setTimeout(r, 1000));
    p.as.answerDelayMs = 250;
    p.as.concurrentTokenCalls({ reset: true });
    const calls = p.as.tokenCalls();
    p.as.outage = false;
    await eventually(
      () => Promise.all(ids.map((id) => connectionOf(id))),
      (all) => all.every((c) => c.status === ConnectionStatus.ACTIVE),
      10_000,
    );
    p.as.answerDelayMs = 0;
    // The cap (ENGINE_CLOUD_HUB_PROVIDER_CONCURRENCY, 5) held, and bound: twelve were due.
    expect(p.as.concurrentTokenCalls()).toBe(5);
    expect(p.as.tokenCalls() - calls).toBeGreaterThanOrEqual(12);
    expect(revokedGrants(p.as)).toBe(0);
  });

  it("no expires_in and no refresh token in the answer: the provider's default lifetime, the old refresh token kept, instance_url travels with the token", async () => {
    const p = await providerFor({ rotateRefreshTokens: false }, { defaultLifetimeSeconds: 600, tokenMetadata: ["instance_url"] });
    const id = await connect(p, "salesforce-like");
    p.as.pushFault({ kind: "rewrite", drop: ["expires_in", "refresh_token"], add: { instance_url: "https://b.example.com" } });
    const refreshed = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(refreshed).toMatchObject({ status: ConnectionStatus.ACTIVE, generation: 2n });
    expect(refreshed.metadata.instance_url).toBe("https://b.example.com");
    const lifetime = Number(refreshed.accessTokenExpiresAt!.seconds) - Number(refreshed.lastRefreshAt!.seconds);
    // The default 600 s, reckoned conservatively: from the request's sending, less a second of whole-second rounding.
    expect(lifetime).toBeGreaterThanOrEqual(598);
    expect(lifetime).toBeLessThanOrEqual(600);
    const streamed = await watch.until(
      (e) => e.event.case === "upsert" && e.event.value.connection?.id === id && generationOf(e.event.value) === 2,
    );
    expect(streamed.event.case === "upsert" && streamed.event.value.metadata.instance_url).toBe("https://b.example.com");
    // The kept refresh token still works.
    const again = (await acme.admin.connections.refreshConnection({ id })).connection!;
    expect(again).toMatchObject({ status: ConnectionStatus.ACTIVE, generation: 3n });
    expect(again.metadata.instance_url).toBe("https://b.example.com");
  });

  it("invalid_client: the app is misconfigured, every connection made with it DEGRADED with the reason", async () => {
    const p = await providerFor();
    const one = await connect(p, "app-one");
    const two = await connect(p, "app-two");
    p.as.pushFault({
      kind: "status",
      status: 401,
      body: { error: "invalid_client", error_description: "client authentication failed" },
    });
    const after = (await acme.admin.connections.refreshConnection({ id: one })).connection!;
    expect(after).toMatchObject({ status: ConnectionStatus.DEGRADED, statusReason: "invalid_client" });
    expect(await connectionOf(two)).toMatchObject({
      status: ConnectionStatus.DEGRADED,
      statusReason: "invalid_client",
      statusDescription: "client authentication failed",
    });
  });
});

describe("forced refreshes", () => {
  it("RefreshCredential from ten runtimes at once: one token call (single flight), then the cooldown", async () => {
    const p = await providerFor();
    const id = await connect(p, "rejected");
    const credentialId = await streamedCredentialId(id);
    const runtimes = await Promise.all(Array.from({ length: 10 }, async () => clientOf(srv, (await acme.token()).secret)));
    const calls = p.as.tokenCalls();
    const answers = await Promise.all(runtimes.map((r) => r.sync.refreshCredential({ project: PROJECT, id: credentialId })));
    expect(p.as.tokenCalls() - calls).toBe(1);
    expect(answers.some((a) => a.refreshed)).toBe(true);
    for (const a of answers) expect(generationOf(a.credential!)).toBe(2);
    const later = await runtimes[0].sync.refreshCredential({ project: PROJECT, id: credentialId });
    expect(later.refreshed).toBe(false);
    expect(p.as.tokenCalls() - calls).toBe(1);
    expect(revokedGrants(p.as)).toBe(0);
  });

  it("RefreshCredential on a credential the hub does not manage: CREDENTIAL_NOT_REFRESHABLE", async () => {
    const { credential } = await acme.admin.credentials.putCredential({
      provider: "hubspot",
      alias: "pasted",
      type: CredentialType.OAUTH2,
      keys: { access_token: { value: "pasted-token" } },
    });
    const refused = await failureOf(runtime.sync.refreshCredential({ project: PROJECT, id: credential!.id }));
    expect(refused).toMatchObject({ codeName: "failed_precondition", reason: "CREDENTIAL_NOT_REFRESHABLE" });
  });

  it("engine-cloud connection refresh <id> refreshes now and prints the new status and generation", async () => {
    const p = await providerFor();
    const id = await connect(p, "cli");
    const env = { ENGINE_CLOUD_URL: srv.url, ENGINE_CLOUD_TOKEN: srv.adminToken, ENGINE_CLOUD_TENANT: acme.slug };
    const human = await runCli(["connection", "refresh", id], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/ACTIVE/i);
    expect(human.stdout).toContain("generation 2");
    const json = await runCli(["connection", "refresh", id, "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).connection).toMatchObject({ id, generation: "3" });
    for (const t of p.as.issuedTokens) expect(human.stdout + json.stdout + human.stderr + json.stderr).not.toContain(t);
  });

  it("reconnecting the same account revokes the replaced refresh token at the provider", async () => {
    const p = await providerFor({ rotateRefreshTokens: false });
    const id = await connect(p, "twice");
    const old = p.as.refreshTokens.at(-1)!;
    expect(await connect(p, "twice")).toBe(id);
    const current = p.as.refreshTokens.at(-1)!;
    expect(current).not.toBe(old);
    await eventually(
      () => p.as.isActive(old),
      (active) => !active,
    );
    expect(await p.as.isActive(current)).toBe(true);
    const reuse = await fetch(`${p.as.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: old,
        client_id: p.as.clientId,
        client_secret: p.as.clientSecret,
      }).toString(),
    });
    expect(((await reuse.json()) as { error?: string }).error).toBe("invalid_grant");
  });
});

describe("reconnecting", () => {
  it("under another alias: the credential of the old name is tombstoned, the new name carries the token", async () => {
    const p = await providerFor();
    const id = await connect(p, "renamed", acme, "first");
    await streamedCredentialId(id);
    expect(await connect(p, "renamed", acme, "second")).toBe(id);
    await watch.until((e) => e.event.case === "delete" && e.event.value.provider === p.id && e.event.value.alias === "first");
    const { credentials } = await acme.admin.credentials.listCredentials({ provider: p.id });
    expect(credentials.map((c) => c.alias)).toEqual(["second"]);
    expect(credentials[0].connection?.id).toBe(id);
  });
});

describe("connect flows", () => {
  it("are purged once expired, finished or not; a pending one within its 10 minutes stays", async () => {
    const p = await providerFor();
    const { flow: old } = await acme.admin.connections.startConnect({ provider: p.id, alias: "old" });
    const { flow: fresh } = await acme.admin.connections.startConnect({ provider: p.id, alias: "fresh" });
    await srv.server.app.storage.db
      .updateTable("oauth_flows")
      .set({ expires_at: new Date(Date.now() - 60_000) })
      .where("id", "=", old!.id)
      .execute();
    await srv.server.app.oauthFlows.sweep();
    expect(await failureOf(acme.admin.connections.getConnectFlow({ id: old!.id }))).toMatchObject({
      reason: "CONNECT_FLOW_NOT_FOUND",
    });
    expect((await acme.admin.connections.getConnectFlow({ id: fresh!.id })).flow?.id).toBe(fresh!.id);
  });
});

describe("across tenants", () => {
  it("tenant B can refresh neither tenant A's connection nor its credential: NOT_FOUND", async () => {
    const p = await providerFor();
    const id = await connect(p, "isolated");
    const credentialId = await streamedCredentialId(id);
    const beta = await createTestTenant(srv, { allow: [PROJECT] });
    const betaRuntime = clientOf(srv, (await beta.token()).secret);
    const calls = p.as.tokenCalls();
    expect(await failureOf(beta.admin.connections.refreshConnection({ id }))).toMatchObject({
      codeName: "not_found",
      reason: "CONNECTION_NOT_FOUND",
    });
    expect(await failureOf(betaRuntime.sync.refreshCredential({ project: PROJECT, id: credentialId }))).toMatchObject({
      codeName: "not_found",
      reason: "CREDENTIAL_NOT_FOUND",
    });
    expect(p.as.tokenCalls()).toBe(calls);
  });
});
