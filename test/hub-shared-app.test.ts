import { createServer } from "node:net";
import { ConnectionStatus } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectLoopbackAccount } from "./support/hub-connections.js";
import {
  loopbackOAuthApp,
  startLoopbackAuthorizationServer,
  type LoopbackAuthorizationServer,
} from "./support/loopback-authorization-server.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";

// The platform's shared OAuth app (one per catalog provider, set by the
// operator tenant, used by every tenant without an app of its own): when the
// provider refuses the app itself (invalid_client), every tenant's
// connections made with it are DEGRADED, not only the tenant whose refresh
// heard it; setting the app again brings them all back. The loopback
// authorization server is a catalog provider here (the operator's extra
// providers, config hub.extraProviders), since only catalog apps are shared.

const PROVIDER = "loopback-shared";
const HUB_ENV = {
  ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1",
  ENGINE_CLOUD_HUB_POLL_MS: "200",
  ENGINE_CLOUD_HUB_LEASE_MS: "3000",
  ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS: "1000",
  ENGINE_CLOUD_HUB_BACKOFF_BASE_MS: "100",
  ENGINE_CLOUD_HUB_BACKOFF_CAP_MS: "400",
};

let srv: TestServer;
let auth: LoopbackAuthorizationServer;
let operator: CloudClient;
let tenants: TestTenant[];

/** A loopback port nothing listens on now: the server takes it, so the authorization server knows its callback first. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  const port = await freePort();
  auth = await startLoopbackAuthorizationServer({
    redirectUris: [`http://127.0.0.1:${port}/oauth/callback`],
    rotateRefreshTokens: false,
  });
  const { customProvider } = loopbackOAuthApp(auth, PROVIDER);
  srv = await startTestServer({
    env: { ...HUB_ENV, ENGINE_CLOUD_LISTEN: `127.0.0.1:${port}` },
    configure: (config) => config.hub.extraProviders.push(customProvider),
  });
  operator = srv.admin();
  await operator.oauthApps.setOAuthApp({
    provider: PROVIDER,
    clientId: auth.clientId,
    clientSecret: auth.clientSecret,
    shared: true,
  });
  tenants = [await createTestTenant(srv), await createTestTenant(srv)];
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  await auth?.close();
});

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = async (tenant: TestTenant, id: string) => (await tenant.admin.connections.getConnection({ id })).connection!;

describe("the platform's shared app", () => {
  it("refused by the provider (invalid_client): every tenant's connections made with it DEGRADED; set again: all ACTIVE", async () => {
    const ids = await Promise.all(
      tenants.map((t, i) => connectLoopbackAccount(t.admin, auth, { login: `shared-${i}`, alias: "crm", provider: PROVIDER })),
    );
    for (const [i, id] of ids.entries()) expect(await statusOf(tenants[i], id)).toMatchObject({ sharedApp: true });
    const calls = auth.tokenCalls();
    auth.pushFault({
      kind: "status",
      status: 401,
      body: { error: "invalid_client", error_description: "client secret revoked" },
    });

    const refused = (await tenants[0].admin.connections.refreshConnection({ id: ids[0] })).connection!;
    expect(refused).toMatchObject({ status: ConnectionStatus.DEGRADED, statusReason: "invalid_client" });
    // The other tenant's connection heard nothing from the provider, and is DEGRADED with the provider's words.
    expect(await statusOf(tenants[1], ids[1])).toMatchObject({
      status: ConnectionStatus.DEGRADED,
      statusReason: "invalid_client",
      statusDescription: "client secret revoked",
    });
    expect(auth.tokenCalls() - calls).toBe(1);

    // The operator sets the app again (a new secret at the provider, here the same one): both due now, both back.
    await operator.oauthApps.setOAuthApp({
      provider: PROVIDER,
      clientId: auth.clientId,
      clientSecret: auth.clientSecret,
      shared: true,
    });
    const back = await eventually(
      () => Promise.all(ids.map((id, i) => statusOf(tenants[i], id))),
      (all) => all.every((c) => c.status === ConnectionStatus.ACTIVE),
    );
    expect(back.map((c) => ConnectionStatus[c.status])).toEqual(["ACTIVE", "ACTIVE"]);
    expect(back.map((c) => c.generation)).toEqual([2n, 2n]);
    // One refused call, then one refresh per connection.
    expect(auth.tokenCalls() - calls).toBe(3);
    expect(auth.events.filter((e) => e.name === "grant.revoked")).toEqual([]);
  });
});
