import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateToLatest } from "../packages/server/src/store/migrate.js";
import { openDatabase, type Storage } from "../packages/server/src/store/open-database.js";
import { BatchAborted, createTenantBatches } from "../packages/server/src/store/tenant-batches.js";
import { insertTenant } from "../packages/server/src/store/tenants.js";
import type { TenantTx } from "../packages/server/src/store/with-tenant.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

// Group commit of a tenant's system writes (store/tenant-batches.ts, the hub's
// answered refreshes): works queued together share one transaction, keep
// their own values, and share its fate — on the real store, PGlite or
// PostgreSQL.

let database: TestDatabase;
let storage: Storage;
let tenantA: string;
let tenantB: string;

beforeAll(async () => {
  database = await createTestDatabase();
  storage = await openDatabase(database);
  await migrateToLatest(storage.db);
  tenantA = (await insertTenant(storage.db, { slug: "batch-a", displayName: "A" }))!.id;
  tenantB = (await insertTenant(storage.db, { slug: "batch-b", displayName: "B" }))!.id;
});
afterAll(async () => {
  await storage?.close();
  await database?.drop();
});

const txid = async (t: TenantTx) =>
  String((await sql<{ id: string }>`SELECT txid_current()::text AS id`.execute(t.tx)).rows[0].id);

const addProject = (t: TenantTx, name: string) =>
  t.tx.insertInto("projects").values({ tenant_id: t.tenantId, name, state: "allowed", updated_by: "test" }).execute();

const projectsNamed = async (prefix: string) =>
  (await storage.db.selectFrom("projects").select("name").where("name", "like", `${prefix}%`).execute())
    .map((r) => r.name)
    .sort();

describe("tenant batches", () => {
  it("runs works queued together in one transaction per tenant, in order, each with its own value", async () => {
    const batches = createTenantBatches(storage.db, "system:test");
    const order: number[] = [];
    const work = (i: number) => async (t: TenantTx) => {
      order.push(i);
      await addProject(t, `together-${i}`);
      return { i, tx: await txid(t), tenant: t.tenantId };
    };
    const results = await Promise.all([...[0, 1, 2, 3].map((i) => batches.run(tenantA, work(i))), batches.run(tenantB, work(4))]);
    expect(results.map((r) => r.i)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(results.slice(0, 4).map((r) => r.tx)).size).toBe(1);
    expect(results[4].tx).not.toBe(results[0].tx);
    expect(results[4].tenant).toBe(tenantB);
    expect(order.filter((i) => i < 4)).toEqual([0, 1, 2, 3]);
    expect(await projectsNamed("together-")).toEqual([0, 1, 2, 3, 4].map((i) => `together-${i}`));
  });

  it("what is queued while a batch commits goes into the next one", async () => {
    const batches = createTenantBatches(storage.db, "system:test");
    let second: Promise<string> | undefined;
    const first = batches.run(tenantA, async (t) => {
      // Queued from inside the running batch: it cannot join a transaction already under way.
      second = batches.run(tenantA, txid);
      return txid(t);
    });
    expect(await first).not.toBe(await second!);
  });

  it("keeps nothing of a batch one work threw in: it rejects with its error, the others with BatchAborted, no after-commit hook runs", async () => {
    const batches = createTenantBatches(storage.db, "system:test");
    const hooks: string[] = [];
    const ok = (name: string) => async (t: TenantTx) => {
      await addProject(t, name);
      t.afterCommit(() => hooks.push(name));
      return name;
    };
    const boom = new Error("boom");
    const settled = await Promise.allSettled([
      batches.run(tenantA, ok("aborted-1")),
      batches.run(tenantA, async () => {
        throw boom;
      }),
      batches.run(tenantA, ok("aborted-2")),
    ]);
    expect(settled[1]).toEqual({ status: "rejected", reason: boom });
    for (const s of [settled[0], settled[2]]) {
      expect(s.status).toBe("rejected");
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(BatchAborted);
    }
    expect(await projectsNamed("aborted-")).toEqual([]);
    expect(hooks).toEqual([]);
    // Run again alone, a work stands on its own.
    expect(await batches.alone(tenantA, ok("aborted-1"))).toBe("aborted-1");
    expect(hooks).toEqual(["aborted-1"]);
    expect(await projectsNamed("aborted-")).toEqual(["aborted-1"]);
  });

  it("a database error in one work rolls the batch back: the work before it, which succeeded, rejects too", async () => {
    const batches = createTenantBatches(storage.db, "system:test");
    const settled = await Promise.allSettled([
      batches.run(tenantA, (t) => addProject(t, "dup-1")),
      batches.run(tenantA, (t) => addProject(t, "dup-1")),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect((settled[0] as PromiseRejectedResult).reason).toBeInstanceOf(BatchAborted);
    expect(await projectsNamed("dup-")).toEqual([]);
    await batches.drain();
  });
});
