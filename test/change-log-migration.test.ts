import { ResourceKind } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, putApiKey, uniqueSecret } from "./support/test-tenant.js";

/**
 * Migration 0010 moves the sync log from the credentials table (live rows and
 * tombstones) into tenant_changes. A database as the 0009 server left it must
 * stream the same afterwards. The 0009 shape is made by turning a current
 * database back (the exact inverse of 0010: tombstones back into credentials
 * as that server wrote them, its indexes, no change log), then a server
 * starts on it and migrates it forward again.
 */
const BACK_TO_0009 = /* sql */ `
ALTER TABLE credentials ADD COLUMN deleted_at timestamptz;
DROP INDEX credentials_name;
CREATE UNIQUE INDEX credentials_live_name ON credentials (tenant_id, project, provider, alias) WHERE deleted_at IS NULL;
CREATE INDEX credentials_revision ON credentials (tenant_id, revision);
CREATE INDEX credentials_tombstones ON credentials (deleted_at) WHERE deleted_at IS NOT NULL;
INSERT INTO credentials (tenant_id, id, project, provider, alias, type, key_info, sealed_keys, version, revision, created_by, updated_by, deleted_at)
SELECT tenant_id, resource_id::uuid, project, tombstone->>'provider', tombstone->>'alias', 'api_key', '{}', NULL, 2, revision, 'test', 'test', deleted_at
FROM tenant_changes WHERE kind = 'credential' AND deleted_at IS NOT NULL;
DROP TABLE tenant_changes;
DELETE FROM engine_migrations WHERE version = 10;
`;

let database: TestDatabase;
let srv: TestServer;
beforeAll(async () => {
  database = await createTestDatabase();
  srv = await startTestServer({ database });
});
afterAll(async () => {
  await srv?.stop();
  await database?.drop();
});

describe("migration 0010 (the change log)", () => {
  it("streams a 0009 database's credentials and tombstones the same once migrated", async () => {
    const tenant = await createTestTenant(srv, { allow: ["p1", "p2"] });
    const { secret } = await tenant.token();
    const put = (project: string, provider: string) => putApiKey(tenant.admin, { project, provider }, uniqueSecret());
    const first = await put("p1", "first");
    await put("", "wide");
    const doomed = await put("p1", "doomed");
    await put("p1", "first"); // version 2
    await tenant.admin.credentials.deleteCredential({ id: doomed.id });
    const elsewhere = await put("p2", "elsewhere");
    await tenant.admin.credentials.deleteCredential({ id: elsewhere.id });

    const pulls = async (runtime: CloudClient) => ({
      snapshot: (await runtime.sync.pull({ project: "p1" })).events,
      since: (await runtime.sync.pull({ project: "p1", sinceRevision: first.revision })).events,
      other: (await runtime.sync.pull({ project: "p2", sinceRevision: first.revision })).events,
    });
    const before = await pulls(clientOf(srv, secret));
    expect(before.since.map((e) => e.event.case)).toEqual(["upsert", "upsert", "delete"]);
    const { revision: reached } = await clientOf(srv, secret).sync.pull({ project: "p1" });

    await sql.raw(BACK_TO_0009).execute(srv.server.app.storage.db);
    const adminToken = srv.adminToken;
    await srv.stop();
    srv = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
    const runtime = clientOf(srv, secret);

    expect(await pulls(runtime)).toEqual(before);
    // The tenant's revision did not move: a runtime at it resumes with nothing to apply.
    expect(await runtime.sync.pull({ project: "p1", sinceRevision: reached })).toMatchObject({ events: [], revision: reached });
    // A snapshot that names kinds holds the project's record too, backfilled at revision 0 (first).
    const kinds = await runtime.sync.pull({ project: "p1", kinds: [ResourceKind.CREDENTIAL, ResourceKind.PROJECT] });
    const cases = kinds.events.map((e) => (e.event.case === "upsertResource" ? e.event.value.resource.case : e.event.case));
    expect(cases).toEqual(["reset", "project", "credential", "credential"]);
  });
});
