import { ErrorReason, reasonName } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChangeEvent } from "../packages/server/src/feed/change-feed.js";
import { systemScope, withTenant, type TenantScope } from "../packages/server/src/store/with-tenant.js";
import { changesSince, type ResourceChange } from "../packages/server/src/sync/resource-changes.js";
import { changeProjectState, removeProject } from "../packages/server/src/tenancy/project-changes.js";
import { systemAccess, type CredentialInput } from "../packages/server/src/vault/credentials.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, uniqueSecret } from "./support/test-tenant.js";

/**
 * The vault module (vault/credentials.ts) on the server's own database and
 * keys, called as a background writer would call it: no RPC in between.
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

const db = () => srv.server.app.storage.db;
const vault = () => srv.server.app.vault;
const log = () => ({ debug() {}, info() {}, warn() {}, error() {} }) as never;

async function tenantScope(): Promise<TenantScope> {
  const tenant = await createTestTenant(srv, { allow: ["p1"] });
  return systemScope(tenant.id, "system:vault-test");
}

const input = (provider: string, secret = uniqueSecret(), project = "p1"): CredentialInput => ({
  project,
  provider,
  alias: "default",
  type: "api_key",
  identity: {},
  metadata: {},
  scopes: [],
  secrets: { api_key: secret },
  keyInfo: { api_key: {} },
  autoRefresh: false,
});

const put = (scope: TenantScope, i: CredentialInput, opts: { quota?: number; expectedVersion?: bigint } = {}) =>
  withTenant(db(), scope, (t) => vault().put(t, i, { access: systemAccess, quota: opts.quota ?? 100, ...opts }));

const changes = (scope: TenantScope, since: number | undefined) =>
  withTenant(db(), scope, (t) => changesSince(t, vault(), since, {}, log()), { isolation: "repeatable read" });

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: { reason?: ErrorReason }) => (e.reason === undefined ? String(e) : reasonName(e.reason)),
  );

/** Change-feed events published while `fn` runs (this process hears its own publications at once). */
async function published(fn: () => Promise<unknown>): Promise<ChangeEvent[]> {
  const heard: ChangeEvent[] = [];
  const stop = srv.server.app.feed.subscribe((e) => void heard.push(e));
  try {
    await fn().catch(() => {});
  } finally {
    stop();
  }
  return heard;
}

describe("the credential vault", () => {
  it("seals on put and opens on read, by id and by name, recording who wrote it", async () => {
    const scope = await tenantScope();
    const secret = uniqueSecret();
    const { row } = await put(scope, input("github", secret));
    expect(row.updated_by).toBe("system:vault-test");
    expect(row.sealed_keys && Buffer.from(row.sealed_keys).includes(secret)).toBe(false);
    const byId = await withTenant(db(), scope, (t) => vault().read(t, { id: row.id }, systemAccess));
    const byName = await withTenant(db(), scope, (t) =>
      vault().read(t, { name: { project: "p1", provider: "github", alias: "default" } }, systemAccess),
    );
    expect(byId.secrets).toEqual({ api_key: secret });
    expect(byName.row.id).toBe(row.id);
  });

  it("refuses a stale expected version with VERSION_CONFLICT and writes nothing", async () => {
    const scope = await tenantScope();
    const { row } = await put(scope, input("slack"));
    expect(await failure(put(scope, input("slack"), { expectedVersion: 0n }))).toBe("VERSION_CONFLICT");
    const { row: second } = await put(scope, input("slack"), { expectedVersion: 1n });
    expect([second.version, second.id]).toEqual([2, row.id]);
    expect((await changes(scope, row.revision)).changes.map((c) => c.revision)).toEqual([second.revision]);
  });

  it("counts the quota only for new credentials", async () => {
    const scope = await tenantScope();
    await put(scope, input("one"), { quota: 1 });
    expect(await failure(put(scope, input("two"), { quota: 1 }))).toBe("CREDENTIAL_QUOTA");
    expect((await put(scope, input("one"), { quota: 1 })).row.version).toBe(2);
  });

  it("runs the caller's access check with the credential's project before it writes", async () => {
    const scope = await tenantScope();
    const asked: string[] = [];
    const refuse = async (project: string, mode: string) => {
      asked.push(`${mode} ${project}`);
      throw new Error("no");
    };
    await failure(withTenant(db(), scope, (t) => vault().put(t, input("denied"), { access: refuse, quota: 10 })));
    expect(asked).toEqual(["write p1"]);
    expect((await changes(scope, undefined)).changes.filter((c) => c.kind === "credential")).toEqual([]);
  });

  it("deletes the row and leaves a tombstone with the name in the change log", async () => {
    const scope = await tenantScope();
    const { row } = await put(scope, input("doomed"));
    const revision = await withTenant(db(), scope, (t) => vault().remove(t, row.id, { access: systemAccess }));
    expect(await failure(withTenant(db(), scope, (t) => vault().read(t, { id: row.id }, systemAccess)))).toBe(
      "CREDENTIAL_NOT_FOUND",
    );
    const after = await changes(scope, row.revision);
    expect(after.changes).toEqual([
      { kind: "credential", revision, project: "p1", id: row.id, tombstone: { provider: "doomed", alias: "default" } },
    ]);
    // A snapshot holds live resources only.
    expect((await changes(scope, undefined)).changes.map((c) => c.id)).not.toContain(row.id);
  });

  it("announces a change once committed, and never one rolled back", async () => {
    const scope = await tenantScope();
    const committed = await published(() => put(scope, input("announced")));
    expect(committed).toContainEqual({ type: "credential", tenantId: scope.tenantId, revision: expect.any(Number) });
    const rolledBack = await published(() =>
      withTenant(db(), scope, async (t) => {
        await vault().put(t, input("rolled-back"), { access: systemAccess, quota: 10 });
        throw new Error("abort after the write");
      }),
    );
    expect(rolledBack.filter((e) => e.type === "credential")).toEqual([]);
  });

  it("puts project policy changes in the same log and revision order as credentials", async () => {
    const scope = await tenantScope();
    const base = (await changes(scope, undefined)).last ?? 0;
    const { row } = await put(scope, input("ordered"));
    await withTenant(db(), scope, (t) => changeProjectState(t, "p2", "allowed"));
    await withTenant(db(), scope, (t) => removeProject(t, "p2"));
    const live = (c: ResourceChange) => (c.kind === "project" ? Boolean(c.record) : Boolean(c.live));
    const log = (await changes(scope, base)).changes.map((c) => [c.kind, c.id, live(c) ? "live" : "deleted"]);
    expect(log).toEqual([
      ["credential", row.id, "live"],
      ["project", "p2", "deleted"],
    ]);
  });
});
