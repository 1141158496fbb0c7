import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateToLatest } from "../packages/server/src/store/migrate.js";
import { openDatabase, type Storage } from "../packages/server/src/store/open-database.js";
import { insertTenant } from "../packages/server/src/store/tenants.js";
import {
  registerAuditReads,
  registerAuditWriter,
  systemScope,
  withPlatform,
  withTenant,
  type AuditRecord,
  type TenantScope,
} from "../packages/server/src/store/with-tenant.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";

// The one tenant transaction: what it hands out, when after-commit work runs
// (after commit, in order, never on rollback), and the audit seat (written in
// the transaction, before commit, so the event and the change stand or fall
// together). On the real store, PGlite or PostgreSQL.

let database: TestDatabase;
let storage: Storage;
let scope: TenantScope;
let otherTenant: string;

beforeAll(async () => {
  database = await createTestDatabase();
  storage = await openDatabase(database);
  await migrateToLatest(storage.db);
  const a = await insertTenant(storage.db, { slug: "tx-a", displayName: "A" });
  const b = await insertTenant(storage.db, { slug: "tx-b", displayName: "B" });
  scope = {
    tenantId: a!.id,
    actor: { kind: "token", id: "00000000-0000-0000-0000-000000000001", tokenKind: "tenant_admin" },
    request: { requestId: "req-1", peer: "127.0.0.1", userAgent: "vitest" },
  };
  otherTenant = b!.id;
});
afterAll(async () => {
  await storage?.close();
  await database?.drop();
});

const projectCount = async (tenantId: string) =>
  Number(
    (
      await storage.db
        .selectFrom("projects")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("tenant_id", "=", tenantId)
        .executeTakeFirstOrThrow()
    ).n,
  );

const addProject = (tx: Parameters<Parameters<typeof withTenant>[2]>[0]["tx"], tenantId: string, name: string) =>
  tx.insertInto("projects").values({ tenant_id: tenantId, name, state: "allowed", updated_by: "test" }).execute();

describe("withTenant", () => {
  it("hands out the transaction, tenant, actor and request in one value", async () => {
    const seen = await withTenant(storage.db, scope, async (t) => {
      const setting = await sql<{ v: string }>`SELECT current_setting('engine.tenant_id', true) AS v`.execute(t.tx);
      return { tenantId: t.tenantId, actor: t.actor, request: t.request, setting: setting.rows[0].v };
    });
    expect(seen).toEqual({ tenantId: scope.tenantId, actor: scope.actor, request: scope.request, setting: scope.tenantId });
  });

  it("runs after-commit work after the commit, in order, before it returns", async () => {
    const order: string[] = [];
    const result = await withTenant(storage.db, scope, async ({ tx, tenantId, afterCommit }) => {
      await addProject(tx, tenantId, "after-commit");
      afterCommit(async () => {
        // Another connection's view: the row is there, so this ran after the commit.
        order.push(`first sees ${await projectCount(tenantId)}`);
      });
      afterCommit(() => order.push("second"));
      order.push("body");
      return "done";
    });
    order.push(`returned ${result}`);
    expect(order).toEqual(["body", `first sees ${await projectCount(scope.tenantId)}`, "second", "returned done"]);
    expect(await projectCount(scope.tenantId)).toBeGreaterThan(0);
  });

  it("never runs after-commit work when the transaction rolls back", async () => {
    const before = await projectCount(scope.tenantId);
    let ran = false;
    await expect(
      withTenant(storage.db, scope, async ({ tx, tenantId, afterCommit }) => {
        await addProject(tx, tenantId, "rolled-back");
        afterCommit(() => (ran = true));
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    expect(ran).toBe(false);
    expect(await projectCount(scope.tenantId)).toBe(before);
  });

  it("rolls back when the caller has gone, and runs no after-commit work", async () => {
    const before = await projectCount(scope.tenantId);
    const gone = new AbortController();
    let ran = false;
    await expect(
      withTenant(
        storage.db,
        scope,
        async ({ tx, tenantId, afterCommit }) => {
          await addProject(tx, tenantId, "abandoned");
          afterCommit(() => (ran = true));
          gone.abort(new Error("client went away"));
        },
        { signal: gone.signal },
      ),
    ).rejects.toThrow("client went away");
    expect([ran, await projectCount(scope.tenantId)]).toEqual([false, before]);
  });

  it("takes the signal from the request's origin: a scope built from a request rolls back once its caller is gone", async () => {
    const before = await projectCount(scope.tenantId);
    const gone = new AbortController();
    await expect(
      withTenant(storage.db, { ...scope, signal: gone.signal }, async ({ tx, tenantId }) => {
        await addProject(tx, tenantId, "abandoned-by-request");
        gone.abort(new Error("request cancelled"));
      }),
    ).rejects.toThrow("request cancelled");
    expect(await projectCount(scope.tenantId)).toBe(before);
  });

  it("confines the transaction to its tenant", async () => {
    await withTenant(storage.db, { ...scope, tenantId: otherTenant }, ({ tx, tenantId }) => addProject(tx, tenantId, "theirs"));
    const visible = await withTenant(storage.db, scope, ({ tx }) => tx.selectFrom("projects").select("tenant_id").execute());
    expect(visible.map((r) => r.tenant_id)).not.toContain(otherTenant);
  });
});

describe("the audit seat", () => {
  it("refuses to commit a record with no audit writer registered", async () => {
    const before = await projectCount(scope.tenantId);
    await expect(
      withTenant(storage.db, scope, async ({ tx, tenantId, audit }) => {
        await addProject(tx, tenantId, "unaudited");
        audit.record({ action: "project.allow", target: "project:unaudited" });
      }),
    ).rejects.toThrow(/no audit writer/);
    expect(await projectCount(scope.tenantId)).toBe(before);
  });

  it("hands the records to the writer inside the transaction, before commit; its failure rolls the change back", async () => {
    // A second handle on the same database, so the writer registered here stays off the first.
    const audited = await openDatabase(database);
    try {
      const written: Array<{ records: AuditRecord[]; actor: unknown; inTenant: string }> = [];
      let fail = false;
      registerAuditWriter(audited.db, async (t, records) => {
        const setting = await sql<{ v: string }>`SELECT current_setting('engine.tenant_id', true) AS v`.execute(t.tx);
        if (fail) throw new Error("audit write failed");
        written.push({ records: [...records], actor: t.actor, inTenant: setting.rows[0].v });
      });
      await withTenant(audited.db, scope, async ({ tx, tenantId, audit }) => {
        await addProject(tx, tenantId, "audited");
        audit.record({ action: "project.allow", target: "project:audited", detail: { state: "allowed" } });
      });
      expect(written).toEqual([
        {
          records: [{ action: "project.allow", target: "project:audited", detail: { state: "allowed" } }],
          actor: scope.actor,
          inTenant: scope.tenantId,
        },
      ]);

      fail = true;
      const before = await projectCount(scope.tenantId);
      let ran = false;
      await expect(
        withTenant(audited.db, scope, async ({ tx, tenantId, audit, afterCommit }) => {
          await addProject(tx, tenantId, "audit-failed");
          audit.record({ action: "project.allow", target: "project:audit-failed" });
          afterCommit(() => (ran = true));
        }),
      ).rejects.toThrow("audit write failed");
      expect([ran, await projectCount(scope.tenantId)]).toEqual([false, before]);
    } finally {
      await audited.close();
    }
  });
});

describe("the audit seat's reads", () => {
  it("hands a read's records to the read writer after the transaction, each naming its actor and request, and returns only once they are written", async () => {
    const audited = await openDatabase(database);
    try {
      const order: string[] = [];
      const written: Array<{ chain: string; records: AuditRecord[] }> = [];
      registerAuditReads(audited.db, async (chain, records) => {
        // Another connection's view: the read's transaction has ended (its project is visible), then the write.
        order.push(`write sees ${await projectCount(scope.tenantId)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        written.push({ chain, records: [...records] });
      });
      const value = await withTenant(audited.db, scope, async ({ tx, tenantId, audit }) => {
        await addProject(tx, tenantId, "read-audited");
        audit.recordRead({ action: "credential.read", target: "credential:x" });
        order.push("body");
        return "secret";
      });
      order.push(`returned ${value}`);
      expect(order).toEqual(["body", `write sees ${await projectCount(scope.tenantId)}`, "returned secret"]);
      expect(written).toEqual([
        {
          chain: scope.tenantId,
          records: [{ action: "credential.read", target: "credential:x", actor: scope.actor, request: scope.request }],
        },
      ]);
    } finally {
      await audited.close();
    }
  });

  it("fails the call with the read writer's error, its value never returned", async () => {
    const audited = await openDatabase(database);
    try {
      registerAuditReads(audited.db, async () => {
        throw new Error("audit read write failed");
      });
      await expect(
        withTenant(audited.db, scope, async ({ audit }) => {
          audit.recordRead({ action: "credential.read", target: "credential:x" });
          return "secret";
        }),
      ).rejects.toThrow("audit read write failed");
    } finally {
      await audited.close();
    }
  });

  it("refuses a read with no read writer registered", async () => {
    await expect(
      withTenant(storage.db, scope, async ({ audit }) => {
        audit.recordRead({ action: "credential.read", target: "credential:x" });
        return "secret";
      }),
    ).rejects.toThrow(/no read writer/);
  });
});

describe("withPlatform", () => {
  it("hands out the same value on the owner connection, for writes across tenants", async () => {
    const origin = { actor: { kind: "system", job: "system:test" } as const };
    const tenants = await withPlatform(storage.db, origin, async ({ tx, actor }) => {
      expect(actor).toEqual(origin.actor);
      return tx.selectFrom("tenants").select("id").where("id", "in", [scope.tenantId, otherTenant]).execute();
    });
    expect(tenants).toHaveLength(2);
  });

  it("systemScope names the job as the actor", () => {
    expect(systemScope("t", "system:oauth-refresh")).toEqual({
      tenantId: "t",
      actor: { kind: "system", job: "system:oauth-refresh" },
    });
  });
});

describe.runIf(onPostgres)("a snapshot transaction that loses a race", () => {
  it("runs again on a fresh snapshot, once, and commits; its after-commit work runs once", async () => {
    await sql`CREATE TABLE IF NOT EXISTS test_snapshot_race (id int PRIMARY KEY, n int NOT NULL)`.execute(storage.db);
    await sql`INSERT INTO test_snapshot_race VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = 1`.execute(storage.db);
    let attempts = 0;
    let afterCommits = 0;
    const origin = { actor: { kind: "system", job: "system:test" } as const };
    await withPlatform(
      storage.db,
      origin,
      async ({ tx, afterCommit }) => {
        attempts++;
        afterCommit(() => afterCommits++);
        await sql`SELECT n FROM test_snapshot_race WHERE id = 1`.execute(tx); // the snapshot is taken here
        // Another connection commits a change to the row after that snapshot, the first time only.
        if (attempts === 1) await sql`UPDATE test_snapshot_race SET n = n + 1 WHERE id = 1`.execute(storage.db);
        await sql`UPDATE test_snapshot_race SET n = n + 10 WHERE id = 1`.execute(tx);
      },
      { isolation: "repeatable read" },
    );
    expect(attempts).toBe(2);
    expect(afterCommits).toBe(1);
    const { rows } = await sql<{ n: number }>`SELECT n FROM test_snapshot_race WHERE id = 1`.execute(storage.db);
    expect(rows[0].n).toBe(12);
    await sql`DROP TABLE test_snapshot_race`.execute(storage.db);
  });
});
