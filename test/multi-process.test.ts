import { ProjectState, TokenKind } from "@engine-cloud/api";
import { errorReason, type CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { onPostgres } from "./support/test-database.js";
import { putApiKey, uniqueSecret } from "./support/test-tenant.js";
import { on, startServerPair, type ServerPair } from "./support/server-pair.js";
import { randomSeedToken, type ServerProcess } from "./support/test-server.js";

// Two server processes on one PostgreSQL database, as behind a load balancer.
// A change made through one must bind the other on its very next request: the
// tests deliberately never wait between the change and that request.

let pair: ServerPair;
let a: ServerProcess;
let b: ServerProcess;
const adminToken = randomSeedToken();

beforeAll(async () => {
  if (!onPostgres) return;
  pair = await startServerPair(adminToken);
  ({ a, b } = pair);
}, 120_000);
afterAll(() => pair?.stop());

let counter = 0;
/** A tenant of the test's own, with a tenant admin token. */
async function tenantWithToken() {
  const slug = `multi-${++counter}`;
  await on(a, adminToken).tenants.createTenant({ slug });
  const { secret, token } = await on(a, adminToken, slug).tokens.createToken({ label: "admin", kind: TokenKind.TENANT_ADMIN });
  return { slug, secret, tokenId: token!.id };
}

describe.skipIf(!onPostgres)("two server processes on one database", () => {
  it("serves two distinct processes", async () => {
    expect(a.child.pid).not.toBe(b.child.pid);
    expect(a.url).not.toBe(b.url);
  });

  it("accepts on B, at once, a token created through A", async () => {
    const { secret, token } = await on(a, adminToken).tokens.createToken({ label: "made-on-a", kind: TokenKind.RUNTIME });
    expect((await on(b, secret).auth.whoAmI({})).principalId).toBe(token!.id);
  });

  it("refuses on B, on the very next request, a token revoked through A", async () => {
    const { slug, secret, tokenId } = await tenantWithToken();
    await on(b, secret).auth.whoAmI({}); // B now knows the token as valid
    await on(a, adminToken, slug).tokens.revokeToken({ id: tokenId });
    const err = await failureOf(on(b, secret).auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_REVOKED"]);
  });

  it("refuses on B, on the very next request, the tokens of a tenant suspended through A", async () => {
    const { slug, secret } = await tenantWithToken();
    await on(b, secret).auth.whoAmI({});
    await on(a, adminToken).tenants.suspendTenant({ tenant: slug });
    const err = await failureOf(on(b, secret).auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "TENANT_SUSPENDED"]);
  });

  it("serves on B, on the very next request, the tokens of a tenant resumed through A", async () => {
    const { slug, secret } = await tenantWithToken();
    await on(a, adminToken).tenants.suspendTenant({ tenant: slug });
    await failureOf(on(b, secret).auth.whoAmI({}));
    await on(a, adminToken).tenants.resumeTenant({ tenant: slug });
    expect((await on(b, secret).auth.whoAmI({})).tenantSlug).toBe(slug);
  });

  it("refuses on B, on the very next request, the tokens of a tenant deleted through A", async () => {
    const { slug, secret } = await tenantWithToken();
    await on(b, secret).auth.whoAmI({});
    await on(a, adminToken).tenants.deleteTenant({ tenant: slug });
    const err = await failureOf(on(b, secret).auth.whoAmI({}));
    expect(err.codeName).toBe("unauthenticated");
  });

  it("shows a project denied through A as denied in B's CheckProject at once", async () => {
    const { secret } = await tenantWithToken();
    await on(a, secret).projects.allowProject({ name: "web" });
    expect((await on(b, secret).projects.checkProject({ name: "web" })).allowed).toBe(true);
    await on(a, secret).projects.denyProject({ name: "web" });
    const check = await on(b, secret).projects.checkProject({ name: "web" });
    expect([check.allowed, check.reason]).toEqual([false, "PROJECT_DENIED"]);
  });

  it("shows a project deleted through A as unknown in B's CheckProject at once", async () => {
    const { secret } = await tenantWithToken();
    await on(a, secret).projects.allowProject({ name: "api" });
    await on(b, secret).projects.checkProject({ name: "api" });
    await on(a, secret).projects.deleteProject({ name: "api" });
    expect((await on(b, secret).projects.checkProject({ name: "api" })).reason).toBe("PROJECT_UNKNOWN");
  });

  // Every server caches the project policy (tenancy/project-directory.ts): these read it through that cache on B.
  it("refuses on B, on the very next request, a runtime's reads of a project denied through A", async () => {
    const { secret } = await tenantWithToken();
    const admin = { a: on(a, secret), b: on(b, secret) };
    const { secret: runtimeSecret } = await admin.a.tokens.createToken({ label: "rt", kind: TokenKind.RUNTIME });
    const runtime = on(b, runtimeSecret);
    // Not a race B sometimes wins: every one of many tries must see the denial.
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const name = `web${i}`;
      await admin.a.projects.allowProject({ name });
      const stored = await putApiKey(admin.a, { project: name, provider: "hubspot" }, uniqueSecret());
      // B caches the project as allowed, through each path that reads the policy.
      await runtime.credentials.getCredential({ id: stored.id });
      await runtime.sync.pull({ project: name, sinceRevision: 0n });
      expect((await admin.b.projects.getProject({ name })).project?.state).toBe(ProjectState.ALLOWED);

      await admin.a.projects.denyProject({ name });
      seen.push(await runtime.credentials.getCredential({ id: stored.id }).then(() => "ACCEPTED", errorReason));
      seen.push(await runtime.sync.pull({ project: name, sinceRevision: 0n }).then(() => "ACCEPTED", errorReason));
      seen.push(String((await admin.b.projects.getProject({ name })).project?.state));
    }
    expect(seen).toEqual(
      Array(10)
        .fill(["PROJECT_DENIED", "PROJECT_DENIED", String(ProjectState.DENIED)])
        .flat(),
    );
  });

  it("serves a runtime on B, on the very next request, a project B had just refused as unknown and A then allowed", async () => {
    const { secret } = await tenantWithToken();
    const { secret: runtime } = await on(a, secret).tokens.createToken({ label: "rt", kind: TokenKind.RUNTIME });
    expect((await failureOf(on(b, runtime).sync.pull({ project: "new", sinceRevision: 0n }))).reason).toBe("PROJECT_UNKNOWN");
    await on(a, secret).projects.allowProject({ name: "new" });
    await on(b, runtime).sync.pull({ project: "new", sinceRevision: 0n });
  });

  it("lets a platform admin on B name, at once, a tenant created through A after B was asked for it", async () => {
    const slug = `late-${++counter}`;
    expect((await failureOf(on(b, adminToken, slug).projects.listProjects({}))).reason).toBe("TENANT_NOT_FOUND");
    await on(a, adminToken).tenants.createTenant({ slug });
    expect((await on(b, adminToken, slug).projects.listProjects({})).projects).toEqual([]);
  });

  it("keeps refusing on B, request after request, a token revoked through A", async () => {
    // The revocation must not be a race B sometimes wins: every one of many tries is refused.
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { slug, secret, tokenId } = await tenantWithToken();
      await on(b, secret).auth.whoAmI({});
      await on(a, adminToken, slug).tokens.revokeToken({ id: tokenId });
      reasons.push(
        await on(b, secret)
          .auth.whoAmI({})
          .then(() => "ACCEPTED", errorReason),
      );
    }
    expect(reasons).toEqual(Array(20).fill("TOKEN_REVOKED"));
  }, 60_000);
});
