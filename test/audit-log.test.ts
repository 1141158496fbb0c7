import { Code } from "@connectrpc/connect";
import { ErrorReason, reasonName, Role, TokenKind } from "@engine-cloud/api";
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainEvents, chainHead } from "../packages/server/src/store/audit-log.js";
import { PLATFORM_CHAIN, verifyChain, type ChainedEvent } from "@engine-cloud/api/audit-chain.js";
import type { Database } from "../packages/server/src/store/schema.js";
import { systemScope, withTenant } from "../packages/server/src/store/with-tenant.js";
import { failureOf } from "./support/expect-error.js";
import { addPerson, FAST_PASSWORD_HASH, signIn, uniquePassword } from "./support/test-people.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, jsonText, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// The audit log (issue 13) on the real server and store: each audited call
// leaves exactly one event in its tenant's chain, in the call's own
// transaction, naming the actor and the request and never a secret; the
// chain verifies; and when the event cannot be written the call fails with
// AUDIT_UNAVAILABLE, changes nothing and returns no secret.

let server: TestServer;
let db: Kysely<Database>;
/** Every secret, token and password this file used: none may appear in any event. */
const used: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ env: FAST_PASSWORD_HASH });
  db = server.server.app.storage.db;
  used.push(server.adminToken);
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const eventsOf = (chain: string): Promise<ChainedEvent[]> => chainEvents(db, chain, 0, 100_000);
const newEvents = async (chain: string, after: number) => (await chainEvents(db, chain, after, 1000)).map(summary);
const summary = (e: ChainedEvent) => ({ action: e.action, target: e.target, outcome: e.outcome });

/** Makes every audit insert of one tenant's chain fail, as a broken audit table would; undone by the returned function. */
async function breakAuditOf(tenantId: string): Promise<() => Promise<void>> {
  const fn = `audit_break_${tenantId.replaceAll("-", "_")}`;
  await sql
    .raw(
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.chain = '${tenantId}' THEN RAISE EXCEPTION 'audit insert refused by the test'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER ${fn} BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION ${fn}();`,
    )
    .execute(db);
  return async () => {
    await sql.raw(`DROP TRIGGER ${fn} ON audit_events; DROP FUNCTION ${fn}();`).execute(db);
  };
}

describe("what a credential's life leaves in the log", () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTestTenant(server);
  });

  it("records put, read and delete once each, with actor, request and outcome, and the chain verifies", async () => {
    const before = (await chainHead(db, tenant.id)).seq;
    const secret = uniqueSecret();
    used.push(secret);
    const c = await putApiKey(tenant.admin, { provider: "audited" }, secret);
    await tenant.admin.credentials.getCredential({ id: c.id });
    await tenant.admin.credentials.listCredentials({});
    await tenant.admin.credentials.deleteCredential({ id: c.id });
    expect(await newEvents(tenant.id, before)).toEqual([
      { action: "credential.put", target: `credential:${c.id}`, outcome: "ok" },
      { action: "credential.read", target: `credential:${c.id}`, outcome: "ok" },
      { action: "credential.delete", target: `credential:${c.id}`, outcome: "ok" },
    ]);
    const [put] = await chainEvents(db, tenant.id, before, 1);
    // The platform admin's token acted; the request is the SDK's over loopback.
    expect(put.actor).toMatchObject({ kind: "token", tokenKind: "platform_admin" });
    expect(put.requestId).not.toBe("");
    expect(put.peer).toMatch(/127\.0\.0\.1/);
    expect(put.detail).toMatchObject({ provider: "audited", alias: "default", version: 1, keys: "api_key" });
    expect(verifyChain(tenant.id, await eventsOf(tenant.id))).toBeUndefined();
  });

  it("records tokens by id and display prefix, never their secret", async () => {
    const before = (await chainHead(db, tenant.id)).seq;
    const { token, secret } = await tenant.admin.tokens.createToken({ label: "ci", kind: TokenKind.RUNTIME, projects: [] });
    used.push(secret);
    await tenant.admin.tokens.revokeToken({ id: token!.id });
    const events = await chainEvents(db, tenant.id, before, 10);
    expect(events.map(summary)).toEqual([
      { action: "token.create", target: `token:${token!.id}`, outcome: "ok" },
      { action: "token.revoke", target: `token:${token!.id}`, outcome: "ok" },
    ]);
    expect(secret.startsWith(String(events[0].detail.display_prefix))).toBe(true);
  });

  it("records project policy changes", async () => {
    const before = (await chainHead(db, tenant.id)).seq;
    await tenant.admin.projects.allowProject({ name: "billing" });
    await tenant.admin.projects.denyProject({ name: "billing" });
    await tenant.admin.projects.deleteProject({ name: "billing" });
    expect((await newEvents(tenant.id, before)).map((e) => e.action)).toEqual([
      "project.allow",
      "project.deny",
      "project.delete",
    ]);
  });

  it("records a catch-up as one event for the stream, with its revision range", async () => {
    await tenant.admin.projects.allowProject({ name: "pulled" });
    const { secret } = await tenant.token({ projects: ["pulled"] });
    used.push(secret);
    await putApiKey(tenant.admin, { project: "pulled", provider: "p" }, uniqueSecret());
    const before = (await chainHead(db, tenant.id)).seq;
    const runtime = server.client(secret);
    const { revision } = await runtime.sync.pull({ project: "pulled", sinceRevision: 0n });
    const events = await chainEvents(db, tenant.id, before, 10);
    expect(events.map(summary)).toEqual([{ action: "sync.catch_up", target: "project:pulled", outcome: "ok" }]);
    expect(events[0].detail).toMatchObject({ from_revision: 0, to_revision: Number(revision), reset: "INITIAL" });
    expect(events[0].actor).toMatchObject({ kind: "token", tokenKind: "runtime" });
  });
});

describe("fail closed", () => {
  it("refuses a secret read whose event cannot be written, returning no secret", async () => {
    const tenant = await createTestTenant(server);
    const secret = uniqueSecret();
    used.push(secret);
    const c = await putApiKey(tenant.admin, { provider: "closed" }, secret);
    const repair = await breakAuditOf(tenant.id);
    try {
      let reply: unknown;
      const failure = await failureOf(
        tenant.admin.credentials.getCredential({ id: c.id }).then((r) => {
          reply = r;
          return r;
        }),
      );
      expect(failure).toMatchObject({ code: Code.Unavailable, reason: reasonName(ErrorReason.AUDIT_UNAVAILABLE) });
      expect(reply).toBeUndefined();
      expect(jsonText(failure)).not.toContain(secret);
      expect(server.logs.join("\n")).not.toContain(secret);
    } finally {
      await repair();
    }
    // Repaired, the same read is served and audited again.
    expect((await tenant.admin.credentials.getCredential({ id: c.id })).credential?.keys.api_key.value).toBe(secret);
  });

  it("fails every audited change of the tenant with AUDIT_UNAVAILABLE and leaves nothing changed", async () => {
    const tenant = await createTestTenant(server, { allow: ["synced"] });
    const c = await putApiKey(tenant.admin, { provider: "kept" }, uniqueSecret());
    const before = await chainHead(db, tenant.id);
    const repair = await breakAuditOf(tenant.id);
    const calls: Record<string, () => Promise<unknown>> = {
      PutCredential: () => putApiKey(tenant.admin, { provider: "new" }, uniqueSecret()),
      DeleteCredential: () => tenant.admin.credentials.deleteCredential({ id: c.id }),
      CreateToken: () => tenant.admin.tokens.createToken({ label: "x", kind: TokenKind.RUNTIME, projects: [] }),
      AllowProject: () => tenant.admin.projects.allowProject({ name: "never" }),
      InviteUser: () => tenant.admin.users.inviteUser({ email: "never@example.com", role: Role.VIEWER }),
      Pull: () => tenant.admin.sync.pull({ project: "synced", sinceRevision: 0n }),
    };
    try {
      for (const [name, call] of Object.entries(calls)) {
        const failure = await failureOf(call());
        expect({ name, reason: failure.reason }).toEqual({
          name,
          reason: reasonName(ErrorReason.AUDIT_UNAVAILABLE),
        });
      }
    } finally {
      await repair();
    }
    expect(await chainHead(db, tenant.id)).toEqual(before);
    const { credentials } = await tenant.admin.credentials.listCredentials({});
    expect(credentials.map((x) => x.provider)).toEqual(["kept"]);
    const { tokens } = await tenant.admin.tokens.listTokens({});
    expect(tokens).toEqual([]);
  });
});

describe("chains", () => {
  it("puts tenant creation in the platform chain, and that chain verifies", async () => {
    const before = (await chainHead(db, PLATFORM_CHAIN)).seq;
    const tenant = await createTestTenant(server);
    expect(await newEvents(PLATFORM_CHAIN, before)).toEqual([
      { action: "tenant.create", target: `tenant:${tenant.id}`, outcome: "ok" },
    ]);
    expect(verifyChain(PLATFORM_CHAIN, await eventsOf(PLATFORM_CHAIN))).toBeUndefined();
  });

  it("records a person's login in their tenant's chain and a failed one in the platform chain", async () => {
    const tenant = await createTestTenant(server);
    const person = await addPerson(server, tenant.admin, Role.ADMIN);
    used.push(person.password, person.token, person.invitationCode);
    const tenantBefore = (await chainHead(db, tenant.id)).seq;
    const platformBefore = (await chainHead(db, PLATFORM_CHAIN)).seq;
    const wrong = uniquePassword();
    used.push(wrong);
    await failureOf(signIn(server, person.email, wrong));
    const again = await signIn(server, person.email, person.password);
    used.push(again.token);
    await again.client.auth.logout({});
    expect(await newEvents(tenant.id, tenantBefore)).toEqual([
      { action: "session.login", target: `session:${again.sessionId}`, outcome: "ok" },
      { action: "session.logout", target: `session:${again.sessionId}`, outcome: "ok" },
    ]);
    const failed = (await chainEvents(db, PLATFORM_CHAIN, platformBefore, 10)).filter((e) => e.action === "session.login");
    expect(failed.map(summary)).toEqual([{ action: "session.login", target: "login", outcome: "LOGIN_FAILED" }]);
    expect(jsonText(failed)).not.toContain(person.email);
  });

  it("keeps one tenant's events out of another tenant's transactions (row-level security)", async () => {
    const a = await createTestTenant(server);
    const b = await createTestTenant(server);
    await putApiKey(a.admin, { provider: "a-only" }, uniqueSecret());
    const seen = await withTenant(db, systemScope(b.id, "system:test"), ({ tx }) =>
      tx.selectFrom("audit_events").select(["chain"]).where("chain", "=", a.id).execute(),
    );
    expect(seen).toEqual([]);
  });

  it("refuses to edit or delete an event, whoever asks", async () => {
    const tenant = await createTestTenant(server);
    await putApiKey(tenant.admin, { provider: "fixed" }, uniqueSecret());
    await expect(sql`UPDATE audit_events SET target = 'x' WHERE chain = ${tenant.id}`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_events WHERE chain = ${tenant.id}`.execute(db)).rejects.toThrow(/append-only/);
  });
});

describe("hygiene", () => {
  it("no event of this file's run holds any secret, token, password or invitation code it used", async () => {
    const rows = await sql<Record<string, unknown>>`SELECT * FROM audit_events`.execute(db);
    const text = jsonText(rows.rows);
    expect(rows.rows.length).toBeGreaterThan(10);
    for (const s of used) expect(text.includes(s), `a used secret appears in the audit log`).toBe(false);
  });
});
