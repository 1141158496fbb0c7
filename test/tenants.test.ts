import { TenantState, TokenKind } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

const tenants = () => srv.admin().tenants;

let counter = 0;
const freshSlug = (stem: string) => `${stem}-${++counter}`;

/** A new tenant with a tenant admin token of its own. */
async function tenantWithToken(stem: string) {
  const { tenant } = await tenants().createTenant({ slug: freshSlug(stem) });
  const { secret } = await srv.admin(tenant!.slug).tokens.createToken({ label: "admin", kind: TokenKind.TENANT_ADMIN });
  return { tenant: tenant!, client: srv.client(secret) };
}

describe("tenants", () => {
  it("creates a tenant, active, named after its slug unless given a display name", async () => {
    const plain = (await tenants().createTenant({ slug: freshSlug("plain") })).tenant!;
    const named = (await tenants().createTenant({ slug: freshSlug("named"), displayName: "Named Corp" })).tenant!;
    expect(plain).toMatchObject({ displayName: plain.slug, state: TenantState.ACTIVE });
    expect(plain.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(named.displayName).toBe("Named Corp");
  });

  it.each([
    ["one character", "a"],
    ["an upper-case letter", "Acme"],
    ["a leading digit", "1acme"],
    ["a trailing hyphen", "acme-"],
    ["an underscore", "ac_me"],
    ["64 characters", `a${"b".repeat(63)}`],
  ])("refuses a slug with %s with INVALID_ARGUMENT on field slug", async (_what, slug) => {
    const err = await failureOf(tenants().createTenant({ slug }));
    expect([err.codeName, err.reason, err.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "slug"]);
  });

  it("refuses a taken slug with ALREADY_EXISTS TENANT_EXISTS", async () => {
    const slug = freshSlug("taken");
    await tenants().createTenant({ slug });
    const err = await failureOf(tenants().createTenant({ slug }));
    expect([err.codeName, err.reason]).toEqual(["already_exists", "TENANT_EXISTS"]);
  });

  it("refuses the operator tenant's slug", async () => {
    const err = await failureOf(tenants().createTenant({ slug: "default" }));
    expect(err.reason).toBe("TENANT_EXISTS");
  });

  it("gets a tenant by slug and by id", async () => {
    const created = (await tenants().createTenant({ slug: freshSlug("lookup") })).tenant!;
    const bySlug = (await tenants().getTenant({ tenant: created.slug })).tenant!;
    const byId = (await tenants().getTenant({ tenant: created.id })).tenant!;
    expect(bySlug.id).toBe(created.id);
    expect(byId.slug).toBe(created.slug);
  });

  it("answers an unknown tenant with NOT_FOUND TENANT_NOT_FOUND", async () => {
    const bySlug = await failureOf(tenants().getTenant({ tenant: "no-such-tenant" }));
    const byId = await failureOf(tenants().getTenant({ tenant: "00000000-0000-4000-8000-000000000000" }));
    expect([bySlug.codeName, bySlug.reason]).toEqual(["not_found", "TENANT_NOT_FOUND"]);
    expect([byId.codeName, byId.reason]).toEqual(["not_found", "TENANT_NOT_FOUND"]);
  });

  it("pages through tenants oldest first without repeats or gaps", async () => {
    for (let i = 0; i < 5; i++) await tenants().createTenant({ slug: freshSlug("page") });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await tenants().listTenants({ pageSize: 2, pageToken });
      expect(page.tenants.length).toBeLessThanOrEqual(2);
      seen.push(...page.tenants.map((t) => t.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    const all = (await tenants().listTenants({ pageSize: 1000 })).tenants;
    expect(seen).toEqual(all.map((t) => t.id));
    const created = all.map((t) => Number(t.createdAt!.seconds) * 1e9 + t.createdAt!.nanos);
    expect(created).toEqual([...created].sort((a, b) => a - b));
  });

  it("leaves deleted tenants out of the list unless show_deleted is set", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("gone") });
    await tenants().deleteTenant({ tenant: tenant!.slug });
    const listed = (await tenants().listTenants({ pageSize: 1000 })).tenants.map((t) => t.id);
    const all = (await tenants().listTenants({ pageSize: 1000, showDeleted: true })).tenants;
    expect(listed).not.toContain(tenant!.id);
    expect(all.find((t) => t.id === tenant!.id)).toMatchObject({ state: TenantState.DELETED });
  });

  it("renames a tenant, keeping its slug and id", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("rename"), displayName: "Old Name" });
    const renamed = (await tenants().updateTenant({ tenant: tenant!.id, displayName: "New Name" })).tenant!;
    expect(renamed).toMatchObject({ id: tenant!.id, slug: tenant!.slug, displayName: "New Name" });
    expect((await tenants().getTenant({ tenant: tenant!.slug })).tenant!.displayName).toBe("New Name");
  });

  it("refuses an empty display name on rename, naming the field", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("rename-empty") });
    const err = await failureOf(tenants().updateTenant({ tenant: tenant!.slug, displayName: "" }));
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "display_name"]);
  });

  it("refuses a suspended tenant's tokens on their very next request with PERMISSION_DENIED TENANT_SUSPENDED", async () => {
    const { tenant, client } = await tenantWithToken("suspend");
    await client.auth.whoAmI({});
    await tenants().suspendTenant({ tenant: tenant.slug });
    const err = await failureOf(client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "TENANT_SUSPENDED"]);
  });

  it("refuses every kind of token of a suspended tenant", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("suspend-kinds") });
    const kinds = [TokenKind.TENANT_ADMIN, TokenKind.RUNTIME, TokenKind.SERVICE];
    const clients = await Promise.all(
      kinds.map(async (kind) => srv.client((await srv.admin(tenant!.slug).tokens.createToken({ label: "k", kind })).secret)),
    );
    await tenants().suspendTenant({ tenant: tenant!.id });
    const reasons = await Promise.all(clients.map(async (c) => (await failureOf(c.auth.whoAmI({}))).reason));
    expect(reasons).toEqual(kinds.map(() => "TENANT_SUSPENDED"));
  });

  it("serves a resumed tenant's tokens again on their next request", async () => {
    const { tenant, client } = await tenantWithToken("resume");
    await tenants().suspendTenant({ tenant: tenant.slug });
    await failureOf(client.auth.whoAmI({}));
    const resumed = (await tenants().resumeTenant({ tenant: tenant.slug })).tenant!;
    expect(resumed.state).toBe(TenantState.ACTIVE);
    expect((await client.auth.whoAmI({})).tenantId).toBe(tenant.id);
  });

  it("shows a suspended tenant as suspended", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("shown") });
    const suspended = (await tenants().suspendTenant({ tenant: tenant!.slug })).tenant!;
    expect(suspended.state).toBe(TenantState.SUSPENDED);
    expect((await tenants().getTenant({ tenant: tenant!.id })).tenant!.state).toBe(TenantState.SUSPENDED);
  });

  it("refuses a deleted tenant's tokens on their next request with UNAUTHENTICATED", async () => {
    const { tenant, client } = await tenantWithToken("delete");
    await client.auth.whoAmI({});
    const deleted = (await tenants().deleteTenant({ tenant: tenant.slug })).tenant!;
    expect(deleted.state).toBe(TenantState.DELETED);
    expect(deleted.deletedAt).toBeDefined();
    const err = await failureOf(client.auth.whoAmI({}));
    expect(err.codeName).toBe("unauthenticated");
    expect(["TENANT_DELETED", "TOKEN_REVOKED"]).toContain(err.reason);
  });

  it("refuses to resume a deleted tenant, which stays deleted", async () => {
    const { tenant, client } = await tenantWithToken("no-resume");
    await tenants().deleteTenant({ tenant: tenant.slug });
    const err = await failureOf(tenants().resumeTenant({ tenant: tenant.slug }));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "TENANT_DELETED"]);
    expect((await tenants().getTenant({ tenant: tenant.id })).tenant!.state).toBe(TenantState.DELETED);
    expect((await failureOf(client.auth.whoAmI({}))).codeName).toBe("unauthenticated");
  });

  it("keeps a deleted tenant's slug taken", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("slug-kept") });
    await tenants().deleteTenant({ tenant: tenant!.slug });
    const err = await failureOf(tenants().createTenant({ slug: tenant!.slug }));
    expect(err.reason).toBe("TENANT_EXISTS");
  });

  it("does not let a platform admin act in a deleted tenant", async () => {
    const { tenant } = await tenants().createTenant({ slug: freshSlug("act-deleted") });
    await tenants().deleteTenant({ tenant: tenant!.slug });
    const err = await failureOf(srv.admin(tenant!.slug).projects.listProjects({}));
    expect([err.codeName, err.reason]).toEqual(["not_found", "TENANT_NOT_FOUND"]);
  });

  it("refuses to suspend or delete the operator tenant with TENANT_PROTECTED", async () => {
    const suspend = await failureOf(tenants().suspendTenant({ tenant: "default" }));
    const del = await failureOf(tenants().deleteTenant({ tenant: "default" }));
    expect([suspend.codeName, suspend.reason]).toEqual(["failed_precondition", "TENANT_PROTECTED"]);
    expect([del.codeName, del.reason]).toEqual(["failed_precondition", "TENANT_PROTECTED"]);
    expect((await srv.admin().auth.whoAmI({})).platformAdmin).toBe(true);
  });

  it("refuses every tenant RPC to a tenant admin token with PERMISSION_DENIED", async () => {
    const { tenant, client } = await tenantWithToken("not-platform");
    const calls = [
      client.tenants.createTenant({ slug: freshSlug("by-tenant-admin") }),
      client.tenants.getTenant({ tenant: tenant.slug }),
      client.tenants.listTenants({}),
      client.tenants.updateTenant({ tenant: tenant.slug, displayName: "Mine Now" }),
      client.tenants.suspendTenant({ tenant: tenant.slug }),
      client.tenants.resumeTenant({ tenant: tenant.slug }),
      client.tenants.deleteTenant({ tenant: tenant.slug }),
    ];
    const errs = await Promise.all(calls.map((c) => failureOf(c)));
    expect(errs.map((e) => [e.codeName, e.reason])).toEqual(calls.map(() => ["permission_denied", "PERMISSION_DENIED"]));
    expect((await tenants().getTenant({ tenant: tenant.id })).tenant).toMatchObject({
      displayName: tenant.slug,
      state: TenantState.ACTIVE,
    });
  });
});
