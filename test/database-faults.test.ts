import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as net from "node:net";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";
import { describeCloudError, type CloudClient } from "@engine-cloud/sdk";
import type { CloudClientOptions } from "@engine-cloud/sdk/node";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { apiKeyRequest, clientOf, createTestTenant, uniqueSecret } from "./support/test-tenant.js";
import { onPostgres } from "./support/test-database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { STARTUP_LOCK_KEY } from "../packages/server/src/store/migrate.js";

const run = promisify(execFile);
const { defer, freshDatabase } = perTestCleanup();

// Tests that start an embedded server give it time: creating a PGlite database takes seconds on a loaded machine.

/** Short bounds, so a test sees them act in seconds; the defaults are 5 s, 10 s and 15 s. */
const SHORT_TIMEOUTS = {
  ENGINE_CLOUD_DB_CONNECT_TIMEOUT_MS: "1000",
  ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS: "1500",
  ENGINE_CLOUD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: "3000",
};

/**
 * A TCP proxy between the server and the shared PostgreSQL, so a test can take
 * the database away from one server without touching the database server
 * itself: `freeze` holds every byte both ways (a stopped postmaster or a
 * network that drops everything), `cut` resets every connection and refuses
 * new ones (a database that is down), `freezeFeed` holds only the connections
 * that sent LISTEN (the change feed's), `restore` undoes any of them.
 */
async function startDatabaseProxy(target: { host: string; port: number }) {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const feedPairs = new WeakSet<[net.Socket, net.Socket]>();
  let state: "open" | "frozen" | "feed frozen" | "cut" = "open";
  const server = net.createServer((client) => {
    if (state === "cut") return client.resetAndDestroy();
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on("data", (chunk: Buffer) => {
      if (!chunk.includes("LISTEN ")) return;
      feedPairs.add(pair);
      if (state === "feed frozen") for (const s of pair) s.pause();
    });
    for (const [from, to] of [pair, [upstream, client] as const]) {
      from.on("data", (chunk) => to.write(chunk));
      from.on("end", () => to.end());
      from.on("error", () => to.destroy());
      from.on("close", () => {
        to.destroy();
        pairs.delete(pair);
      });
    }
    if (state === "frozen") for (const s of pair) s.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze() {
      state = "frozen";
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    freezeFeed() {
      state = "feed frozen";
      for (const pair of pairs) if (feedPairs.has(pair)) for (const s of pair) s.pause();
    },
    cut() {
      state = "cut";
      for (const pair of pairs) for (const s of pair) s.resetAndDestroy();
    },
    restore() {
      state = "open";
      for (const pair of pairs) for (const s of pair) s.resume();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type DatabaseProxy = Awaited<ReturnType<typeof startDatabaseProxy>>;

/** A server whose every database connection (pool and change feed) goes through a proxy of the test's. */
async function serverBehindProxy(
  env: Record<string, string> = SHORT_TIMEOUTS,
): Promise<{ srv: TestServer; proxy: DatabaseProxy; directUrl: string }> {
  const database = await freshDatabase();
  const direct = new URL(database.databaseUrl!);
  const proxy = await startDatabaseProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  defer(() => proxy.close());
  const proxied = new URL(direct);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(proxy.port);
  const srv = await startTestServer({ database, env: { DATABASE_URL: proxied.toString(), ...env } });
  defer(() => srv.stop());
  // Cleanups run newest first: the database comes back before the server stops on it.
  defer(async () => proxy.restore());
  return { srv, proxy, directUrl: database.databaseUrl! };
}

/** The whole server's status from grpc.health.v1.Health/Check, as a load balancer asks it. */
async function healthOf(srv: TestServer): Promise<string> {
  const health = createClient(Health, createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }));
  const { status } = await health.check({ service: "" }, { timeoutMs: 3000 });
  return ServingStatus[status];
}

async function readyzOf(srv: TestServer): Promise<number> {
  const res = await fetch(`${srv.url}/readyz`, { signal: AbortSignal.timeout(3000) });
  await res.text();
  return res.status;
}

/** Polls until `probe` returns `want`, for at most `withinMs`; returns what it last saw. */
async function eventually<T>(probe: () => Promise<T>, want: T, withinMs = 15_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  let seen: T;
  do {
    seen = await probe().catch((e) => String(e) as T);
    if (seen === want) return seen;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  return seen;
}

const provider = () => `p-${randomBytes(4).toString("hex")}`;

describe.skipIf(!onPostgres)("a PostgreSQL database that is down", () => {
  it("answers a unary call UNAVAILABLE with reason DATABASE_UNAVAILABLE, not INTERNAL", async () => {
    const { srv, proxy } = await serverBehindProxy();
    const tenant = await createTestTenant(srv);
    proxy.cut();
    const err = await failureOf(tenant.admin.projects.listProjects({}));
    expect([err.codeName, err.reason]).toEqual(["unavailable", "DATABASE_UNAVAILABLE"]);
    expect(srv.logs.some((l) => l.includes('"msg":"rpc failed: database"'))).toBe(true);
  });

  it("ends a binary gRPC Watch (the fast path) UNAVAILABLE with a database reason, not INTERNAL", async () => {
    const { srv, proxy } = await serverBehindProxy();
    const tenant = await createTestTenant(srv, { allow: ["app"] });
    const { secret } = await tenant.token({ projects: ["app"] });
    proxy.cut();
    // Binary gRPC without a deadline: served by transport/sync-fast-path.ts, which ends streams on its own.
    const watch = clientOf(srv, secret, { protocol: "grpc" }).sync.watch({ project: "app", runtimeId: "r1" });
    const err = await failureOf(
      (async () => {
        for await (const _ of watch) void _;
      })(),
    );
    expect(err.codeName).toBe("unavailable");
    expect(err.reason).toMatch(/^DATABASE_(UNAVAILABLE|TIMEOUT)$/);
    expect(
      srv.logs.some((l) => l.includes('"method":"engine.cloud.v1.SyncService/Watch"') && l.includes('"code":"Unavailable"')),
    ).toBe(true);
  });
});

describe.skipIf(!onPostgres)("a frozen PostgreSQL database", () => {
  it("fails a call without a deadline UNAVAILABLE within the configured timeouts instead of holding it", async () => {
    const { srv, proxy } = await serverBehindProxy();
    const tenant = await createTestTenant(srv);
    proxy.freeze();
    const started = Date.now();
    const err = await failureOf(tenant.admin.projects.listProjects({}));
    const tookMs = Date.now() - started;
    expect([err.codeName, err.reason]).toEqual(["unavailable", "DATABASE_TIMEOUT"]);
    // Statement bound 1.5 s + 1 s without any answer; generous for a loaded machine, far below the client's 20 s.
    expect(tookMs).toBeLessThan(10_000);
    proxy.restore();
    expect(await eventually(async () => (await tenant.admin.projects.listProjects({})).projects.length, 0)).toBe(0);
  });
});

describe.skipIf(!onPostgres)("a write whose caller gave up before it committed", () => {
  /**
   * Holds the tenant's revision lock from outside, as a slow concurrent writer
   * would, while `write` runs and its caller gives up; then lets go and returns
   * how many credentials of `provider` exist once the write got its chance to commit.
   */
  async function committedAfterCallerLeft(
    write: (admin: CloudClient, provider: string) => Promise<unknown>,
    options: Partial<CloudClientOptions> = {},
  ) {
    const { srv, directUrl } = await serverBehindProxy();
    const tenant = await createTestTenant(srv);
    await tenant.admin.credentials.putCredential(apiKeyRequest({ provider: provider() }, uniqueSecret()));
    const blocker = new pg.Client({ connectionString: directUrl });
    await blocker.connect();
    defer(() => blocker.end());
    await blocker.query("BEGIN");
    await blocker.query("SELECT 1 FROM tenant_revisions WHERE tenant_id = $1 FOR UPDATE", [tenant.id]);
    const late = provider();
    const err = await failureOf(write(clientOf(srv, srv.adminToken, { tenant: tenant.slug, ...options }), late));
    await blocker.query("COMMIT");
    // The write's statements now run to its commit point; give it the time it needs, then look.
    await new Promise((r) => setTimeout(r, 1500));
    const { rows } = await blocker.query("SELECT count(*)::int AS n FROM credentials WHERE tenant_id = $1 AND provider = $2", [
      tenant.id,
      late,
    ]);
    const listed = await tenant.admin.credentials.listCredentials({ provider: late });
    return { codeName: err.codeName, stored: rows[0].n as number, listed: listed.credentials.length };
  }

  it("is rolled back when the call's deadline passed, not committed once the database gets to it", async () => {
    const outcome = await committedAfterCallerLeft((admin, late) =>
      admin.credentials.putCredential(apiKeyRequest({ provider: late }, uniqueSecret()), { timeoutMs: 800 }),
    );
    expect(outcome).toEqual({ codeName: "deadline_exceeded", stored: 0, listed: 0 });
  });

  it("is rolled back when the caller cancelled the call (HTTP/2 stream reset)", async () => {
    const outcome = await committedAfterCallerLeft(
      (admin, late) =>
        admin.credentials.putCredential(apiKeyRequest({ provider: late }, uniqueSecret()), { signal: AbortSignal.timeout(800) }),
      { httpVersion: "2" },
    );
    expect(outcome).toEqual({ codeName: "canceled", stored: 0, listed: 0 });
  });
});

describe("a write whose caller waits for it", () => {
  it("commits on every protocol: the call's signal aborts only when the caller goes", async () => {
    const srv = await startTestServer();
    defer(() => srv.stop());
    const tenant = await createTestTenant(srv);
    const protocols: Array<Partial<CloudClientOptions>> = [
      { protocol: "connect", httpVersion: "1.1" },
      { protocol: "connect", httpVersion: "2" },
      { protocol: "grpc" },
      { protocol: "grpc-web", httpVersion: "1.1" },
    ];
    for (const options of protocols) {
      const admin = clientOf(srv, srv.adminToken, { tenant: tenant.slug, ...options });
      const name = provider();
      await admin.credentials.putCredential(apiKeyRequest({ provider: name }, uniqueSecret()));
      expect((await admin.credentials.listCredentials({ provider: name })).credentials, JSON.stringify(options)).toHaveLength(1);
    }
  }, 90_000);
});

describe.skipIf(!onPostgres)("readiness while PostgreSQL is unreachable", () => {
  it("says NOT_SERVING and /readyz 503 while the database is cut off, SERVING and 200 once it is back", async () => {
    const { srv, proxy } = await serverBehindProxy();
    expect([await healthOf(srv), await readyzOf(srv)]).toEqual(["SERVING", 200]);
    proxy.cut();
    expect(await eventually(() => healthOf(srv), "NOT_SERVING", 8000)).toBe("NOT_SERVING");
    expect(await readyzOf(srv)).toBe(503);
    proxy.restore();
    expect(await eventually(() => healthOf(srv), "SERVING")).toBe("SERVING");
    expect(await readyzOf(srv)).toBe(200);
  });

  it("says NOT_SERVING while only the change feed's connection is frozen, SERVING again once it is back", async () => {
    const { srv, proxy } = await serverBehindProxy();
    proxy.freezeFeed();
    expect(await eventually(() => healthOf(srv), "NOT_SERVING", 10_000)).toBe("NOT_SERVING");
    expect(await readyzOf(srv)).toBe(503);
    expect(srv.logs.some((l) => l.includes('"problem":"change feed disconnected"'))).toBe(true);
    proxy.restore();
    expect(await eventually(() => readyzOf(srv), 200)).toBe(200);
    expect(await healthOf(srv)).toBe("SERVING");
  });

  it("says NOT_SERVING while the database is frozen, SERVING again once it answers", async () => {
    const { srv, proxy } = await serverBehindProxy();
    proxy.freeze();
    expect(await eventually(() => readyzOf(srv), 503, 8000)).toBe(503);
    expect(await healthOf(srv)).toBe("NOT_SERVING");
    proxy.restore();
    expect(await eventually(() => readyzOf(srv), 200)).toBe(200);
    expect(await healthOf(srv)).toBe("SERVING");
  });
});

describe.skipIf(!onPostgres)("start-up under a short statement timeout", () => {
  it("waits for another server's start-up lock longer than the statement timeout and starts", async () => {
    const database = await freshDatabase();
    const holder = new pg.Client({ connectionString: database.databaseUrl });
    await holder.connect();
    defer(() => holder.end());
    await holder.query("SELECT pg_advisory_lock($1)", [STARTUP_LOCK_KEY]);
    const release = setTimeout(() => void holder.query("SELECT pg_advisory_unlock($1)", [STARTUP_LOCK_KEY]), 1500);
    defer(async () => clearTimeout(release));
    const srv = await startTestServer({ database, env: { ...SHORT_TIMEOUTS, ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS: "300" } });
    defer(() => srv.stop());
    expect((await srv.admin().server.getServerInfo({})).version).toBeTruthy();
  });
});

describe.skipIf(onPostgres)("a full disk under the embedded database", () => {
  /** A small filesystem of the test's own to fill up (tmpfs; needs the right to mount, else the test is skipped). */
  async function tinyFilesystem(sizeMb: number): Promise<string | undefined> {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-full-"));
    defer(async () => rmSync(dir, { recursive: true, force: true }));
    const mounted = await run("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0700`, "tmpfs", dir]).then(
      () => true,
      () => false,
    );
    if (!mounted) return undefined;
    defer(() => run("umount", ["-l", dir]));
    return dir;
  }

  it("answers a write RESOURCE_EXHAUSTED with reason DATABASE_DISK_FULL, not INTERNAL", async (ctx) => {
    const dataDir = await tinyFilesystem(96);
    if (!dataDir) return ctx.skip();
    const srv = await startTestServer({ database: { dataDir, drop: async () => {} } });
    defer(() => srv.stop());
    const tenant = await createTestTenant(srv);
    const { bavail, bsize } = statfsSync(dataDir);
    writeFileSync(path.join(dataDir, "filler"), Buffer.alloc(Math.max(0, bavail * bsize - 256 * 1024)));
    let err: Awaited<ReturnType<typeof failureOf>> | undefined;
    // Each write needs new pages sooner or later; bounded, and a few are plenty.
    for (let i = 0; i < 400 && !err; i++) {
      // ~5 KB that does not compress, per write.
      const metadata = Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`k${k}`, randomBytes(125).toString("hex")]));
      err = await tenant.admin.credentials
        .putCredential(apiKeyRequest({ provider: provider() }, uniqueSecret(), { metadata }))
        .then(
          () => undefined,
          (e: unknown) => describeCloudError(e),
        );
    }
    expect(err && [err.codeName, err.reason]).toEqual(["resource_exhausted", "DATABASE_DISK_FULL"]);
  }, 120_000);
});

describe("the plain HTTP endpoints", () => {
  it("answer /healthz and /readyz 200, and an unknown path a plain-text 404 without a stack", async () => {
    const srv = await startTestServer();
    defer(() => srv.stop());
    const curl = async (urlPath: string) => {
      const { stdout } = await run("curl", ["-sS", "-i", `${srv.url}${urlPath}`]);
      return stdout;
    };
    expect(await curl("/healthz")).toMatch(/^HTTP\/1\.1 200[\s\S]*\r\n\r\nok\n$/);
    expect(await curl("/readyz")).toMatch(/^HTTP\/1\.1 200[\s\S]*\r\n\r\nready\n$/);
    const missing = await curl("/no/such/path?x=1");
    expect(missing).toMatch(/^HTTP\/1\.1 404[\s\S]*content-type: text\/plain[\s\S]*\r\n\r\nnot found\n$/i);
    expect(missing).not.toMatch(/at .*\.js|Error/);
    expect(srv.logs.some((l) => l.includes('"method":"GET /no/such/path"') && l.includes('"code":"NotFound"'))).toBe(true);
  }, 90_000);

  it("says 503 on /readyz once the server drains, while /healthz stays 200", async () => {
    const srv = await startTestServer();
    defer(() => srv.stop());
    srv.server.app.drain();
    expect(await readyzOf(srv)).toBe(503);
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  }, 90_000);
});
