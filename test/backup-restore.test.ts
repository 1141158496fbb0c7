import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";
import { startTestServer, TEST_MASTER_KEY } from "./support/test-server.js";
import { apiKeyRequest, clientOf, createTestTenant, uniqueSecret } from "./support/test-tenant.js";

// The backup docs/OPERATIONS.md prescribes, done for real: pg_dump of the
// database, pg_restore into a fresh one, a server on it with the same root
// key reads every credential back, and the tokens issued before still work.
// With another root key the restored database is unreadable, and the server says so.

const run = promisify(execFile);
const { defer } = perTestCleanup();

/** pg_dump (custom format) of `from`, restored with pg_restore into a new database of its own. */
async function dumpAndRestore(from: TestDatabase): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-backup-"));
  defer(async () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "engine-cloud.dump");
  await run("pg_dump", ["--format=custom", "--file", file, from.databaseUrl!]);
  const restored = await createTestDatabase("postgres");
  defer(() => restored.drop());
  await run("pg_restore", ["--exit-on-error", "--no-owner", "--dbname", restored.databaseUrl!, file]);
  return restored;
}

describe.runIf(onPostgres)("backup and restore", () => {
  it("a pg_dump restored into a fresh database, with the same root key, gives every credential back", async () => {
    const original = await startTestServer({ database: await createTestDatabase("postgres") });
    defer(async () => original.stop().then(() => original.database.drop()));
    const tenant = await createTestTenant(original, { allow: ["api", "web"] });
    const written = new Map<string, string>();
    for (const [project, provider] of [
      ["api", "openai"],
      ["api", "stripe"],
      ["web", "github"],
      ["", "slack"],
    ]) {
      const secret = uniqueSecret();
      const { credential } = await tenant.admin.credentials.putCredential(apiKeyRequest({ project, provider }, secret));
      written.set(credential!.id, secret);
    }
    const runtime = await tenant.token({ projects: ["api"] });

    const restoredDatabase = await dumpAndRestore(original.database);
    await original.stop();
    const restored = await startTestServer({
      database: restoredDatabase,
      env: { ENGINE_CLOUD_TOKEN: original.adminToken, ENGINE_CLOUD_MASTER_KEY: TEST_MASTER_KEY },
    });
    defer(() => restored.server.stop());

    const admin = clientOf(restored, original.adminToken, { tenant: tenant.slug });
    const { credentials } = await admin.credentials.listCredentials({});
    expect(credentials.map((c) => c.id).sort()).toEqual([...written.keys()].sort());
    for (const [id, secret] of written) {
      const { credential } = await admin.credentials.getCredential({ id });
      expect(credential!.keys.api_key.value, id).toBe(secret);
    }
    // Tokens are checked with the token key, itself sealed under the root key: a runtime's token still works.
    const pulled = await clientOf(restored, runtime.secret).sync.pull({ project: "api", sinceRevision: 0n });
    expect(pulled.revision).toBeGreaterThan(0n);
  });

  it("with another root key the restored database is refused at start, naming the key", async () => {
    const original = await startTestServer({ database: await createTestDatabase("postgres") });
    defer(async () => original.stop().then(() => original.database.drop()));
    const tenant = await createTestTenant(original);
    await tenant.admin.credentials.putCredential(apiKeyRequest({ provider: "openai" }, uniqueSecret()));
    const restoredDatabase = await dumpAndRestore(original.database);
    const otherKey = randomBytes(32).toString("base64");
    const refused = await startTestServer({
      database: restoredDatabase,
      env: { ENGINE_CLOUD_TOKEN: original.adminToken, ENGINE_CLOUD_MASTER_KEY: otherKey },
    }).then(
      (s) => s.server.stop().then(() => undefined),
      (err: Error) => err,
    );
    expect(refused?.message).toMatch(/root key/i);
    expect(refused?.message).not.toContain(otherKey);
  });
});
