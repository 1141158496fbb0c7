import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainEvents } from "../packages/server/src/store/audit-log.js";
import { createTestDatabase, onPostgres } from "./support/test-database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, putApiKey, uniqueSecret } from "./support/test-tenant.js";

// WatchAuditEvents is woken by the chain's commits over the change feed
// (LISTEN/NOTIFY between processes, feed/audit-announcer.ts), not by its poll,
// which is only a 5 s safety net; and a reader that resumes from the last seq
// it saw, on another server process after a restart, misses nothing and sees
// nothing twice.

/** Reads the watch until an event's detail names `provider`; returns the seqs seen. */
async function tailUntil(client: CloudClient, afterSeq: bigint, provider: string, seen: bigint[]): Promise<void> {
  const abort = new AbortController();
  try {
    for await (const r of client.audit.watchAuditEvents({ afterSeq }, { signal: abort.signal })) {
      if (!r.event) continue; // caught-up marker
      seen.push(r.event.seq);
      if (r.event.detail?.provider === provider) abort.abort();
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
}

describe("WatchAuditEvents wake-up", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  }, 120_000);
  afterAll(() => server?.stop());

  it("delivers a new event well within the safety poll: the commit wakes it", async () => {
    const tenant = await createTestTenant(server);
    const seen: bigint[] = [];
    let arrived = 0;
    const watching = tailUntil(tenant.admin, 0n, "woken", seen).then(() => (arrived = performance.now()));
    // Let the watch read the backlog and go to sleep.
    await new Promise((r) => setTimeout(r, 500));
    const sent = performance.now();
    await putApiKey(tenant.admin, { provider: "woken" }, uniqueSecret());
    await watching;
    expect(arrived - sent).toBeLessThan(1500);
  });

  it.runIf(onPostgres)("wakes a watch on one server process for a commit made through another", async () => {
    const other = await startTestServer({ database: server.database, env: { ENGINE_CLOUD_TOKEN: server.adminToken } });
    try {
      const tenant = await createTestTenant(server);
      const seen: bigint[] = [];
      let arrived = 0;
      const watching = tailUntil(tenant.admin, 0n, "elsewhere", seen).then(() => (arrived = performance.now()));
      await new Promise((r) => setTimeout(r, 500));
      const sent = performance.now();
      await putApiKey(other.admin(tenant.slug), { provider: "elsewhere" }, uniqueSecret());
      await watching;
      expect(arrived - sent).toBeLessThan(1500);
    } finally {
      await other.stop();
    }
  });
});

describe("WatchAuditEvents across a server restart", () => {
  it("resumes from the last seq seen with no gap and no duplicate", async () => {
    const database = await createTestDatabase();
    let server = await startTestServer({ database });
    const adminToken = server.adminToken;
    try {
      const tenant = await createTestTenant(server);
      const seen: bigint[] = [];
      for (let i = 0; i < 3; i++) await putApiKey(tenant.admin, { provider: `before-${i}` }, uniqueSecret());
      const first = tailUntil(tenant.admin, 0n, "before-restart", seen);
      await putApiKey(tenant.admin, { provider: "before-restart" }, uniqueSecret());
      await first;

      // The watch's own server goes away; the reader resumes from its last seq on the next one.
      await server.stop();
      server = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
      const admin = server.admin(tenant.slug);
      const resumed = tailUntil(admin, seen.at(-1)!, "after-restart", seen);
      for (let i = 0; i < 3; i++) await putApiKey(admin, { provider: `after-${i}` }, uniqueSecret());
      await putApiKey(admin, { provider: "after-restart" }, uniqueSecret());
      await resumed;

      const last = seen.at(-1)!;
      const stored = (await chainEvents(server.server.app.storage.db, tenant.id, 0, 100_000)).filter((e) => e.seq <= last);
      expect(seen).toEqual(stored.map((e) => BigInt(e.seq)));
      // The chain holds both watches' own opening reads, in order: the seqs are 1..last, each once.
      expect(seen).toEqual(Array.from({ length: Number(last) }, (_, i) => BigInt(i + 1)));
    } finally {
      await server.stop();
      await database.drop();
    }
  }, 120_000);
});
