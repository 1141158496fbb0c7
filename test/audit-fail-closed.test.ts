import { randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../packages/server/src/store/schema.js";
import {
  AUDIT_UNAVAILABLE,
  AUDITED_CALLS,
  AUDITED_CALLS_ENV,
  auditedCallContext,
  connection,
  declaredAuditActions,
  type AuditedCallContext,
  type Reply,
} from "./support/audited-calls.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "./support/loopback-authorization-server.js";
import { onPostgres, POSTGRES_URL, type TestDatabase } from "./support/test-database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// Issue 13 §5, fail closed and complete, for every audited RPC (from the
// proto's audit declarations) and every audited route: prepared so that it
// would succeed, each call fails with UNAVAILABLE / AUDIT_UNAVAILABLE and
// returns no secret when its event cannot be written — the insert refused by
// a trigger (PGlite and PostgreSQL) or by a revoked INSERT privilege
// (PostgreSQL) — and with the audit log working leaves exactly one event of
// its declared action. The database stopped: test/fault/audit-durability.test.ts.

/** Runs every call (prepared first, all of them, with the audit log working) while `broken` holds. */
async function expectAllFailClosed(c: AuditedCallContext, brk: () => Promise<() => Promise<void>>) {
  const prepared: Array<[string, () => Promise<Reply>]> = [];
  for (const call of AUDITED_CALLS) prepared.push([call.name, await call.prepare(c)]);
  const repair = await brk();
  const outcomes: Record<string, string> = {};
  const leaks: string[] = [];
  try {
    for (const [name, run] of prepared) {
      const reply = await run();
      outcomes[name] = reply.ok ? "ok" : `${reply.code} ${reply.reason}`;
      if (c.used.some((s) => reply.text.includes(s))) leaks.push(name);
    }
  } finally {
    await repair();
  }
  const expected = Object.fromEntries(
    prepared.map(([name]) => [name, expect.stringMatching(`^unavailable ${AUDIT_UNAVAILABLE}$`)]),
  );
  // The OAuth callback answers the browser with a page, not a reason: its 503 is the refusal.
  expected["GET /oauth/callback"] = "unavailable ";
  expect(outcomes).toEqual(expected);
  expect(leaks, "calls whose failed reply held a secret").toEqual([]);
}

describe("the audited calls", () => {
  it("cover every RPC the proto declares an audit action for, with that action", () => {
    const declared = declaredAuditActions();
    const covered = new Map(AUDITED_CALLS.filter((c) => !c.name.includes(" ")).map((c) => [c.name, c.action]));
    expect(Object.fromEntries(covered)).toEqual(Object.fromEntries(declared));
  });
});

/** A server, the loopback authorization server, and the calls' tenant. */
async function startAudited(database?: TestDatabase, env: Record<string, string> = {}) {
  const server = await startTestServer({ database, env: { ...AUDITED_CALLS_ENV, ...env } });
  const auth = await startLoopbackAuthorizationServer({ redirectUris: [`${server.url}/oauth/callback`] });
  const c = await auditedCallContext(server, auth);
  return { server, auth, c, db: server.server.app.storage.db };
}

describe("with the audit insert refused by a trigger", () => {
  let server: TestServer;
  let auth: LoopbackAuthorizationServer;
  let c: AuditedCallContext;
  let db: Kysely<Database>;
  beforeAll(async () => {
    ({ server, auth, c, db } = await startAudited());
  }, 120_000);
  afterAll(async () => {
    await auth?.close();
    await server?.stop();
  });

  it("fails every audited RPC and route with AUDIT_UNAVAILABLE, returning no secret", async () => {
    await expectAllFailClosed(c, async () => {
      await sql
        .raw(
          `CREATE FUNCTION audit_refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'audit insert refused by the test'; END $$;
           CREATE TRIGGER audit_refuse_all BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_refuse_all();`,
        )
        .execute(db);
      return async () =>
        void (await sql.raw(`DROP TRIGGER audit_refuse_all ON audit_events; DROP FUNCTION audit_refuse_all();`).execute(db));
    });
  }, 120_000);

  it("records exactly one event of its declared action for each, the audit log working", async () => {
    const counts: Record<string, number> = {};
    const failed: Record<string, string> = {};
    for (const call of AUDITED_CALLS) {
      const run = await call.prepare(c);
      const before = await eventsOfAction(db, call.action);
      const reply = await run();
      if (!reply.ok) failed[call.name] = `${reply.code} ${reply.reason}: ${reply.text}`;
      // Stream ends and the hub's own writes come after; the open / the caller's event is what is counted.
      counts[call.name] = (await eventsOfAction(db, call.action)) - before;
    }
    expect(failed).toEqual({});
    expect(counts).toEqual(Object.fromEntries(AUDITED_CALLS.map((x) => [x.name, x.events ?? 1])));
  }, 120_000);

  it("records a hub refresh as the hub's own credential.put (actor system:oauth-refresh) beside the caller's event", async () => {
    const id = await connection(c);
    const { rows: before } = await sql<{
      n: string;
    }>`SELECT max(seq) AS n FROM audit_events WHERE chain = ${c.tenant.id}`.execute(db);
    await c.tenant.admin.connections.refreshConnection({ id });
    const { rows } = await sql<{ action: string; job: string | null; kind: string }>`
      SELECT action, actor->>'job' AS job, actor->>'kind' AS kind FROM audit_events
      WHERE chain = ${c.tenant.id} AND seq > ${Number(before[0].n)} ORDER BY seq`.execute(db);
    expect(rows).toEqual(
      expect.arrayContaining([
        { action: "credential.put", job: "system:oauth-refresh", kind: "system" },
        { action: "connection.refresh", job: null, kind: "token" },
      ]),
    );
  });
});

/**
 * Events of `action`, but the hub's background refreshes (which may run at any time); for stream deliveries,
 * only opens (the stream's close comes after).
 */
async function eventsOfAction(db: Kysely<Database>, action: string): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM audit_events
    WHERE action = ${action} AND coalesce(actor->>'job', '') <> 'system:oauth-refresh'
      AND coalesce(detail->>'phase', 'open') = 'open'`.execute(db);
  return Number(rows[0].n);
}

describe.runIf(onPostgres)("with INSERT on the audit table revoked from the server's role (PostgreSQL)", () => {
  const role = `ec_audit_${randomBytes(5).toString("hex")}`;
  const name = `ec_test_${randomBytes(6).toString("hex")}`;
  const asSuperuser = async (fn: (client: pg.Client) => Promise<unknown>, database = "postgres") => {
    const url = new URL(POSTGRES_URL!);
    url.pathname = `/${database}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  };
  let started: Awaited<ReturnType<typeof startAudited>>;

  beforeAll(async () => {
    // A role of the test's own, not a superuser (a superuser passes every privilege check), owning its database;
    // CREATEROLE for the migrations' CREATE ROLE (PostgreSQL checks it before it finds the role exists).
    await asSuperuser(async (q) => {
      await q.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER CREATEROLE`);
      await q.query(`CREATE DATABASE ${name} OWNER ${role}`);
      await q.query(`DO $$ BEGIN CREATE ROLE engine_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      await q.query(`GRANT engine_app TO ${role}`);
    });
    const url = new URL(POSTGRES_URL!);
    url.username = role;
    url.pathname = `/${name}`;
    const database: TestDatabase = { databaseUrl: url.toString(), dataDir: "", drop: async () => {} };
    started = await startAudited(database);
  }, 120_000);
  afterAll(async () => {
    await started?.auth.close();
    await started?.server.stop();
    await asSuperuser(async (q) => {
      await q.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await q.query(`REVOKE engine_app FROM ${role}`).catch(() => undefined);
      await q.query(`DROP ROLE IF EXISTS ${role}`);
    });
  });

  it("fails every audited RPC and route with AUDIT_UNAVAILABLE, returning no secret", async () => {
    await expectAllFailClosed(started.c, async () => {
      const grant = `INSERT ON audit_events`;
      await asSuperuser((q) => q.query(`REVOKE ${grant} FROM ${role}, engine_app`), name);
      return () => asSuperuser((q) => q.query(`GRANT ${grant} TO ${role}, engine_app`), name).then(() => undefined);
    });
  }, 120_000);
});
