import { RuntimeState, TokenKind, type Runtime } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { createCloudClient, createSyncProvider } from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli } from "./support/cli-process.js";
import { failureOf } from "./support/expect-error.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { isCaughtUp, recordWatch } from "./support/watch-recorder.js";
import { randomSeedToken, REPO_ROOT, spawnServerProcess, startTestServer, type TestServer } from "./support/test-server.js";

// Runtime presence: every Watch stream is listed by RuntimeService.ListRuntimes
// with who the runtime says it is, how far behind it is, and whether it is
// still connected. Presence is written in batches (a short flush interval
// here), so the listings are polled until they show what is expected.

const FLUSH_MS = "100";
const SDK_PACKAGE_VERSION = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, "packages/sdk/package.json"), "utf8")) as { version: string }
).version;
const INFO = {
  name: "engine-oss",
  version: "0.9.2",
  host: "worker-7",
  sdk: "test-sdk",
  sdkVersion: "1.2.3",
  language: "typescript",
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { ENGINE_CLOUD_PRESENCE_FLUSH_MS: FLUSH_MS } });
}, 60_000);
afterAll(() => server?.stop());

/** A tenant allowing project "app", with one credential (so its revision is above 0) and a runtime token. */
async function tenantWithRuntime(): Promise<{ tenant: TestTenant; runtime: CloudClient; tokenId: string }> {
  const tenant = await createTestTenant(server, { allow: ["app"] });
  await putApiKey(tenant.admin, { provider: "hubspot", alias: "work", project: "app" }, uniqueSecret());
  const { id, secret } = await tenant.token({ kind: TokenKind.RUNTIME, projects: ["app"] });
  return { tenant, runtime: server.client(secret), tokenId: id };
}

async function runtimesOf(client: CloudClient, request: { includeOffline?: boolean; tenantId?: string; project?: string } = {}) {
  return (await client.runtimes.listRuntimes(request)).runtimes;
}

/** Polls the listing until `match` holds of it (presence is written every flush interval). */
async function eventually(list: () => Promise<Runtime[]>, match: (runtimes: Runtime[]) => boolean): Promise<Runtime[]> {
  let last: Runtime[] = [];
  await expect.poll(async () => match((last = await list())), { timeout: 10_000, interval: 50 }).toBe(true);
  return last;
}

describe("runtime presence", () => {
  it("lists a connected runtime with its info, token, project and server, caught up (lag 0)", async () => {
    const { tenant, runtime, tokenId } = await tenantWithRuntime();
    const watch = recordWatch(runtime, { project: "app", runtimeId: "rt-1", runtime: INFO });
    try {
      await watch.until(isCaughtUp);
      const [r] = await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs.length === 1 && rs[0].revisionDelivered > 0n,
      );
      expect(r.info).toMatchObject(INFO);
      expect([r.runtimeId, r.project, r.tokenId, r.tenantId, r.state]).toEqual([
        "rt-1",
        "app",
        tokenId,
        tenant.id,
        RuntimeState.CONNECTED,
      ]);
      expect(r.tokenLabel).toMatch(/^test-/);
      expect(r.serverInstance).not.toBe("");
      expect(r.offlineSince).toBeUndefined();
      expect(r.revisionLag).toBe(0n);
    } finally {
      await watch.close();
    }
  });

  it("brings the lag to 0 once the tenant's later changes are delivered, on the generic Watch path too", async () => {
    const { tenant, runtime } = await tenantWithRuntime();
    // A stream on the generic path (a deadline), so both Watch paths record presence.
    const watch = recordWatch(runtime, { project: "app", runtime: INFO }, { timeoutMs: 60_000 });
    try {
      await watch.until(isCaughtUp);
      await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs.length === 1 && rs[0].revisionDelivered > 0n,
      );
      // A change in another project of the tenant: the tenant's revision moves on, this stream is not sent it.
      await tenant.admin.projects.allowProject({ name: "other" });
      await putApiKey(tenant.admin, { provider: "zoho", alias: "elsewhere", project: "other" }, uniqueSecret());
      await putApiKey(tenant.admin, { provider: "zoho", alias: "here", project: "app" }, uniqueSecret());
      const [r] = await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs[0]?.revisionLag === 0n && rs[0].revisionDelivered >= 3n,
      );
      expect(r.state).toBe(RuntimeState.CONNECTED);
    } finally {
      await watch.close();
    }
  });

  it("marks a runtime offline when its stream ends, and lists it only when offline ones are asked for", async () => {
    const { tenant, runtime } = await tenantWithRuntime();
    const watch = recordWatch(runtime, { project: "app", runtime: INFO });
    await watch.until(isCaughtUp);
    await eventually(
      () => runtimesOf(tenant.admin),
      (rs) => rs.length === 1,
    );
    await watch.close();
    await eventually(
      () => runtimesOf(tenant.admin),
      (rs) => rs.length === 0,
    );
    const [r] = await runtimesOf(tenant.admin, { includeOffline: true });
    expect(r.state).toBe(RuntimeState.OFFLINE);
    expect(r.offlineSince).toBeDefined();
    expect(r.info?.name).toBe("engine-oss");
  });

  it("hears from the TypeScript SDK who the runtime is: its name and version, the SDK's, the language and host", async () => {
    const { tenant } = await tenantWithRuntime();
    const { secret } = await tenant.token({ projects: ["app"] });
    const provider = createSyncProvider({
      baseUrl: server.url,
      token: secret,
      project: "app",
      cachePath: path.join(mkdtempSync(path.join(tmpdir(), "presence-")), "cache.bin"),
      cacheKey: randomBytes(32),
      env: {},
      runtimeName: "billing-agent",
      runtimeVersion: "2.0.1",
    });
    try {
      await provider.start();
      await provider.waitForSync();
      const [r] = await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs.length === 1,
      );
      expect(r.info).toMatchObject({
        name: "billing-agent",
        version: "2.0.1",
        sdk: "engine-cloud-ts",
        sdkVersion: SDK_PACKAGE_VERSION,
        language: "typescript",
        host: hostname(),
      });
    } finally {
      await provider.close();
    }
  });

  it("filters by project", async () => {
    const { tenant, runtime } = await tenantWithRuntime();
    const watch = recordWatch(runtime, { project: "app" });
    try {
      await eventually(
        () => runtimesOf(tenant.admin, { project: "app" }),
        (rs) => rs.length === 1,
      );
      expect(await runtimesOf(tenant.admin, { project: "nope" })).toEqual([]);
    } finally {
      await watch.close();
    }
  });

  it("never shows tenant B the runtimes of tenant A, and refuses B naming A's tenant", async () => {
    const a = await tenantWithRuntime();
    const b = await createTestTenant(server);
    const bAdmin = server.client((await b.token({ kind: TokenKind.TENANT_ADMIN })).secret);
    const watch = recordWatch(a.runtime, { project: "app" });
    try {
      await eventually(
        () => runtimesOf(a.tenant.admin),
        (rs) => rs.length === 1,
      );
      expect(await runtimesOf(bAdmin, { includeOffline: true })).toEqual([]);
      for (const tenantId of [a.tenant.id, "*"]) {
        const err = await failureOf(bAdmin.runtimes.listRuntimes({ tenantId }));
        expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
      }
    } finally {
      await watch.close();
    }
  });

  it("lets a platform administrator list one named tenant, or every tenant", async () => {
    const a = await tenantWithRuntime();
    const b = await tenantWithRuntime();
    const watches = [recordWatch(a.runtime, { project: "app" }), recordWatch(b.runtime, { project: "app" })];
    try {
      const platform = server.admin();
      const all = await eventually(
        () => runtimesOf(platform, { tenantId: "*" }),
        (rs) => [a.tenant.id, b.tenant.id].every((id) => rs.some((r) => r.tenantId === id)),
      );
      expect(all.length).toBeGreaterThanOrEqual(2);
      const onlyA = await runtimesOf(platform, { tenantId: a.tenant.id });
      expect(onlyA.map((r) => r.tenantId)).toEqual([a.tenant.id]);
    } finally {
      await Promise.all(watches.map((w) => w.close()));
    }
  });

  it("shows them in `engine-cloud runtime list`: a table for people, JSON with --json, offline ones with --all", async () => {
    assertCliBuilt();
    const { tenant, runtime } = await tenantWithRuntime();
    const watch = recordWatch(runtime, { project: "app", runtime: INFO });
    const cli = (...args: string[]) =>
      runCli(["runtime", "list", ...args], { ENGINE_CLOUD_URL: server.url, ENGINE_CLOUD_TOKEN: server.adminToken });
    try {
      const [r] = await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs[0]?.revisionLag === 0n,
      );
      const table = await cli("--tenant", tenant.slug);
      expect(table.code).toBe(0);
      const [header, row] = table.stdout.trim().split("\n");
      expect(header.split(/\s{2,}/)).toEqual(["RUNTIME", "TOKEN", "PROJECT", "STATE", "SINCE", "REVISION LAG"]);
      expect(row.split(/\s{2,}/)).toEqual([
        "engine-oss 0.9.2 on worker-7",
        r.tokenLabel,
        "app",
        "connected",
        expect.any(String),
        "0",
      ]);
      const json = await cli("--tenant", tenant.slug, "--json", "--project", "app");
      expect((JSON.parse(json.stdout) as { runtimes: { streamId: string }[] }).runtimes.map((x) => x.streamId)).toEqual([
        r.streamId,
      ]);
    } finally {
      await watch.close();
    }
    await eventually(
      () => runtimesOf(tenant.admin),
      (rs) => rs.length === 0,
    );
    expect((await cli("--tenant", tenant.slug)).stdout.trim()).toBe("No runtimes.");
    expect((await cli("--tenant", tenant.slug, "--all")).stdout).toMatch(/engine-oss 0\.9\.2 on worker-7 .* offline /);
  });

  it("pages through the runtimes", async () => {
    const { tenant, runtime } = await tenantWithRuntime();
    const watches = [1, 2, 3].map(() => recordWatch(runtime, { project: "app" }));
    try {
      await eventually(
        () => runtimesOf(tenant.admin),
        (rs) => rs.length === 3,
      );
      const first = await tenant.admin.runtimes.listRuntimes({ pageSize: 2 });
      const second = await tenant.admin.runtimes.listRuntimes({ pageSize: 2, pageToken: first.nextPageToken });
      expect([first.runtimes.length, second.runtimes.length, second.nextPageToken]).toEqual([2, 1, ""]);
      const ids = [...first.runtimes, ...second.runtimes].map((r) => r.streamId);
      expect(new Set(ids).size).toBe(3);
    } finally {
      await Promise.all(watches.map((w) => w.close()));
    }
  });
});

describe("presence across server processes", () => {
  let database: TestDatabase;
  const adminToken = randomSeedToken();
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  const env = () => ({
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ENGINE_CLOUD_PRESENCE_FLUSH_MS: FLUSH_MS,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
  });

  // On PostgreSQL a second process stays up and watches the first one die; on
  // PGlite (one process per data directory) the next process reads what the
  // dead one left.
  it(
    onPostgres
      ? "lists as offline the runtimes of a replica killed with SIGKILL, as seen from the other replica"
      : "lists as offline, after a restart, the runtimes of a server killed with SIGKILL",
    async () => {
      const doomed = await spawnServerProcess(env());
      const survivor = onPostgres ? await spawnServerProcess(env()) : undefined;
      try {
        const tenant = await createTestTenant({ url: doomed.url, adminToken }, { allow: ["app"] });
        const { secret } = await tenant.token({ projects: ["app"] });
        const runtime = createCloudClient({ baseUrl: doomed.url, token: secret });
        const watch = recordWatch(runtime, { project: "app", runtime: INFO });
        await watch.until(isCaughtUp);
        await eventually(
          () => runtimesOf(tenant.admin),
          (rs) => rs[0]?.state === RuntimeState.CONNECTED,
        );
        await doomed.kill9();
        await watch.close();
        const reader = survivor ?? (await spawnServerProcess(env()));
        try {
          const viewer = createCloudClient({ baseUrl: reader.url, token: adminToken, tenant: tenant.slug });
          const [r] = await eventually(
            () => runtimesOf(viewer, { includeOffline: true }),
            (rs) => rs[0]?.state === RuntimeState.OFFLINE,
          );
          expect(r.offlineSince).toBeDefined();
          expect(await runtimesOf(viewer)).toEqual([]);
        } finally {
          if (!survivor) await reader.stop();
        }
      } finally {
        await doomed.kill9();
        await survivor?.stop();
      }
    },
    120_000,
  );
});
