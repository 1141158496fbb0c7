import { setTimeout as sleep } from "node:timers/promises";
import { ConnectError } from "@connectrpc/connect";
import { TokenKind, type TenantLimits } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { RetryInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli } from "./support/cli-process.js";
import { failureOf } from "./support/expect-error.js";
import { apiKeyRequest, clientOf, createTestTenant, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { isCaughtUp, recordWatch, type WatchRecorder } from "./support/watch-recorder.js";

// Limits per credential and per tenant: request rates, open Watch streams and
// stored credentials. The server runs on its generous defaults; each test
// gives its own tenant low limits through SetTenantLimits, as a platform
// administrator would.

let server: TestServer;
beforeAll(async () => {
  assertCliBuilt();
  server = await startTestServer();
});
afterAll(() => server?.stop());

const PROJECT = "app";

async function limitedTenant(overrides: Partial<TenantLimits>): Promise<TestTenant> {
  const tenant = await createTestTenant(server, { allow: [PROJECT] });
  await server.admin().tenants.setTenantLimits({ tenant: tenant.slug, overrides });
  return tenant;
}

async function runtimeClient(tenant: TestTenant): Promise<CloudClient> {
  return clientOf(server, (await tenant.token()).secret);
}

/**
 * Makes `count` calls at once (so a slow machine cannot spread them out past
 * the rate) and returns how many were served and the refusals.
 */
async function burst(count: number, call: () => Promise<unknown>): Promise<{ served: number; refusals: unknown[] }> {
  const results = await Promise.allSettled(Array.from({ length: count }, call));
  const refusals = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
  return { served: count - refusals.length, refusals };
}

/** Opens a Watch on the fast path (no deadline) or the generic one (with a deadline) and waits for it to be live. */
async function openWatch(client: CloudClient, path: "fast" | "generic"): Promise<WatchRecorder> {
  const watch = recordWatch(client, { project: PROJECT }, path === "generic" ? { timeoutMs: 60_000 } : {});
  await watch.until(isCaughtUp).catch(async (err) => {
    throw new Error(`the Watch did not open: ${JSON.stringify(await watch.ended)}`, { cause: err });
  });
  return watch;
}

const open: WatchRecorder[] = [];
afterAll(async () => {
  for (const w of open) await w.close();
});

describe("request rates", () => {
  it("refuses a credential over its request rate with RESOURCE_EXHAUSTED RATE_LIMITED and a retry hint, and serves it after the hint", async () => {
    const client = await runtimeClient(await limitedTenant({ tokenRequestsPerSecond: 5 }));
    const { served, refusals } = await burst(20, () => client.auth.whoAmI({}));
    expect(served).toBeGreaterThanOrEqual(5);
    expect(served).toBeLessThanOrEqual(10);
    const refusal = await failureOf(Promise.reject(refusals[0]));
    expect([refusal.codeName, refusal.reason, refusal.metadata.limit]).toEqual([
      "resource_exhausted",
      "RATE_LIMITED",
      "token_requests_per_second",
    ]);
    const waitMs = Number(refusal.metadata.retry_after_ms);
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(1000);
    const retryInfo = ConnectError.from(refusals[0]).findDetails(RetryInfoSchema)[0];
    expect(Number(retryInfo?.retryDelay?.nanos ?? 0) / 1e6 + Number(retryInfo?.retryDelay?.seconds ?? 0) * 1000).toBe(waitMs);

    await sleep(waitMs);
    expect((await client.auth.whoAmI({})).principalId).toBeTruthy();
  });

  it("holds all of a tenant's credentials together to the tenant's rate", async () => {
    const tenant = await limitedTenant({ tenantRequestsPerSecond: 5 });
    const [first, second] = [await runtimeClient(tenant), await runtimeClient(tenant)];
    const [a, b] = await Promise.all([burst(10, () => first.auth.whoAmI({})), burst(10, () => second.auth.whoAmI({}))]);
    expect(a.served + b.served).toBeLessThanOrEqual(10);
    const reasons = await Promise.all([...a.refusals, ...b.refusals].map((r) => failureOf(Promise.reject(r))));
    expect(new Set(reasons.map((r) => `${r.reason} ${r.metadata.limit}`))).toEqual(
      new Set(["RATE_LIMITED tenant_requests_per_second"]),
    );
  });

  it("leaves another tenant's credentials alone while one tenant is over its rate", async () => {
    const noisy = await runtimeClient(await limitedTenant({ tenantRequestsPerSecond: 5 }));
    const quiet = await runtimeClient(await createTestTenant(server));
    const [flood, calm] = await Promise.all([burst(20, () => noisy.auth.whoAmI({})), burst(20, () => quiet.auth.whoAmI({}))]);
    expect(flood.refusals.length).toBeGreaterThan(0);
    expect(calm.served).toBe(20);
  });
});

describe("open streams", () => {
  for (const path of ["fast", "generic"] as const) {
    it(`refuses a credential's Watch beyond its stream limit with STREAM_LIMIT on the ${path} path, and takes one again once a stream closes`, async () => {
      const client = await runtimeClient(await limitedTenant({ tokenStreams: 2 }));
      const held = [await openWatch(client, path), await openWatch(client, path)];
      open.push(...held);
      const refused = recordWatch(client, { project: PROJECT }, path === "generic" ? { timeoutMs: 60_000 } : {});
      const end = await refused.ended;
      expect([end?.codeName, end?.reason, end?.metadata.limit]).toEqual(["resource_exhausted", "STREAM_LIMIT", "token_streams"]);
      expect(Number(end?.metadata.retry_after_ms)).toBeGreaterThan(0);

      await held[0]!.close();
      // The server hears of the close a moment later; then the slot is free.
      let again: WatchRecorder | undefined;
      for (let i = 0; i < 50 && !again; i++) {
        const w = recordWatch(client, { project: PROJECT }, path === "generic" ? { timeoutMs: 60_000 } : {});
        const first = await w.until(isCaughtUp).then(
          () => "live",
          () => "ended",
        );
        if (first === "live") again = w;
        else await sleep(100);
      }
      expect(again).toBeDefined();
      open.push(again!);
    });
  }

  it("counts a credential's streams on both paths together", async () => {
    const client = await runtimeClient(await limitedTenant({ tokenStreams: 2 }));
    open.push(await openWatch(client, "fast"), await openWatch(client, "generic"));
    for (const path of ["fast", "generic"] as const) {
      const end = await recordWatch(client, { project: PROJECT }, path === "generic" ? { timeoutMs: 60_000 } : {}).ended;
      expect(end?.reason).toBe("STREAM_LIMIT");
    }
  });

  it("refuses a tenant's Watch beyond the tenant's stream limit, whichever credential opens it", async () => {
    const tenant = await limitedTenant({ tenantStreams: 2 });
    open.push(await openWatch(await runtimeClient(tenant), "fast"), await openWatch(await runtimeClient(tenant), "generic"));
    const end = await recordWatch(await runtimeClient(tenant), { project: PROJECT }).ended;
    expect([end?.reason, end?.metadata.limit]).toEqual(["STREAM_LIMIT", "tenant_streams"]);
  });
});

describe("stored credentials", () => {
  it("refuses a credential beyond the tenant's quota with CREDENTIAL_QUOTA, still replaces existing ones, and takes one after a delete", async () => {
    const tenant = await limitedTenant({ tenantCredentials: 2 });
    const client = await runtimeClient(tenant);
    const { credential } = await client.credentials.putCredential(apiKeyRequest({ provider: "one" }, uniqueSecret()));
    await client.credentials.putCredential(apiKeyRequest({ provider: "two" }, uniqueSecret()));
    await client.credentials.putCredential(apiKeyRequest({ provider: "two" }, uniqueSecret()));
    const refusal = await failureOf(client.credentials.putCredential(apiKeyRequest({ provider: "three" }, uniqueSecret())));
    expect([refusal.codeName, refusal.reason, refusal.metadata.limit]).toEqual([
      "resource_exhausted",
      "CREDENTIAL_QUOTA",
      "tenant_credentials",
    ]);

    await client.credentials.deleteCredential({ id: credential!.id });
    await client.credentials.putCredential(apiKeyRequest({ provider: "three" }, uniqueSecret()));
  });
});

describe("reading and setting limits", () => {
  it("shows a tenant its effective limits, defaults, overrides and what it uses", async () => {
    const tenant = await limitedTenant({ tokenStreams: 3 });
    const client = await runtimeClient(tenant);
    await client.credentials.putCredential(apiKeyRequest({ provider: "one" }, uniqueSecret()));
    open.push(await openWatch(client, "fast"));
    const { settings, usage } = await client.tenants.getTenantLimits({});
    expect(settings?.tenantId).toBe(tenant.id);
    expect(settings?.effective?.tokenStreams).toBe(3);
    expect(settings?.defaults?.tokenStreams).toBe(1000);
    expect(settings?.overrides?.tokenStreams).toBe(3);
    expect(settings?.overrides?.tenantStreams).toBeUndefined();
    expect(settings?.effective?.tenantStreams).toBe(settings?.defaults?.tenantStreams);
    expect([usage?.tokenStreams, usage?.tenantStreams, usage?.tenantCredentials, usage?.tenantConnections]).toEqual([1, 1, 1, 0]);
  });

  it("applies an override on the credential's next request, and drops it when set to 0", async () => {
    const tenant = await createTestTenant(server);
    const client = await runtimeClient(tenant);
    await client.auth.whoAmI({});
    await server.admin().tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenRequestsPerSecond: 1 } });
    const { served, refusals } = await burst(3, () => client.auth.whoAmI({}));
    expect(served).toBe(1);
    expect((await failureOf(Promise.reject(refusals[0]))).reason).toBe("RATE_LIMITED");

    const { settings } = await server
      .admin()
      .tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenRequestsPerSecond: 0 } });
    expect(settings?.overrides?.tokenRequestsPerSecond).toBeUndefined();
    expect(settings?.effective?.tokenRequestsPerSecond).toBe(1000);
  });

  it("does not let a tenant administrator set its own limits", async () => {
    const tenant = await createTestTenant(server);
    const tenantAdmin = clientOf(server, (await tenant.token({ kind: TokenKind.TENANT_ADMIN })).secret);
    const refusal = await failureOf(
      tenantAdmin.tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenStreams: 100_000 } }),
    );
    expect([refusal.codeName, refusal.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
    expect((await tenantAdmin.tenants.getTenantLimits({})).settings?.overrides?.tokenStreams).toBeUndefined();
  });
});

describe("engine-cloud tenant limits", () => {
  const cli = (args: string[], token: string) => runCli(args, { ENGINE_CLOUD_URL: server.url, ENGINE_CLOUD_TOKEN: token });

  it("shows the limits of the caller's tenant as a table, and as JSON with --json", async () => {
    const tenant = await limitedTenant({ tokenStreams: 7 });
    const token = (await tenant.token()).secret;
    const table = await cli(["tenant", "limits"], token);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`Limits of tenant ${tenant.id}:`);
    expect(table.stdout).toMatch(/LIMIT\s+EFFECTIVE\s+DEFAULT\s+OVERRIDE\s+IN USE/);
    expect(table.stdout).toMatch(/token_streams\s+7\s+1000\s+7\s+0/);
    expect(table.stdout).toMatch(/tenant_connections\s+10000\s+10000\s+-\s+0/);
    const json = JSON.parse((await cli(["tenant", "limits", "--json"], token)).stdout);
    expect(json.settings.effective.tokenStreams).toBe(7);
  });

  it("lets a platform administrator set and clear a tenant's limits with --set", async () => {
    const tenant = await createTestTenant(server);
    const set = await cli(
      ["tenant", "limits", tenant.slug, "--set", "token_streams=9", "--set", "tenant_credentials=5"],
      server.adminToken,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/token_streams\s+9\s+1000\s+9/);
    const shown = await cli(["tenant", "limits", tenant.slug], server.adminToken);
    expect(shown.stdout).toMatch(/tenant_credentials\s+5\s+100000\s+5\s+0/);
    const cleared = await cli(["tenant", "limits", tenant.slug, "--set", "token_streams=default"], server.adminToken);
    expect(cleared.stdout).toMatch(/token_streams\s+1000\s+1000\s+-/);
    const typo = await cli(["tenant", "limits", tenant.slug, "--set", "token_stream=9"], server.adminToken);
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringContaining('no limit "token_stream"')]);
  });
});
