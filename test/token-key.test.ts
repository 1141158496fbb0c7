import { createHmac, randomBytes } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { describe, expect, it } from "vitest";
import { dumpPublicTables, readEveryFile } from "./support/database-dump.js";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { onPostgres, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant } from "./support/test-tenant.js";

// Each test starts servers on a database of its own and stops them itself.
const { defer, freshDatabase } = perTestCleanup();

// Untyped on purpose: the test reads and rewrites the tables as an intruder (or an older version) would.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OwnerDb = Kysely<any>;
const ownerDb = (srv: TestServer): OwnerDb => srv.server.app.storage.db;

/** A server on `database` with this seed and these root keys; stopped after the test unless stopped before. */
async function serverOn(database: TestDatabase, seed: string, current: string, previous: string[] = []): Promise<TestServer> {
  const srv = await startTestServer({
    database,
    env: { ENGINE_CLOUD_TOKEN: seed, ENGINE_CLOUD_MASTER_KEY: current, ENGINE_CLOUD_PREVIOUS_MASTER_KEYS: previous.join(",") },
  });
  defer(() => srv.stop());
  return srv;
}

/** Tests that start a server several times: each start initialises PGlite, seconds on a busy machine. */
const RESTARTS_MS = 120_000;

const newRootKey = () => randomBytes(32).toString("base64");

/** Every form the token key could be read from in a dump: its bytes, hex and base64. */
function expectNoTokenKeyIn(haystack: Buffer | string, key: Uint8Array) {
  const bytes = Buffer.from(key);
  const found =
    typeof haystack === "string"
      ? [bytes.toString("hex"), bytes.toString("base64")].some((form) => haystack.includes(form))
      : haystack.includes(bytes);
  expect(found, "the dump holds the token key").toBe(false);
}

/**
 * What an attacker with the dump would do to test a guess of the seed: key an
 * HMAC with every stored byte string and look for the seed's stored hash.
 */
async function storedValuesThatKeyTheSeedHash(db: OwnerDb, seed: string): Promise<number> {
  const hashes = new Set(
    (await sql<{ secret_hash: Uint8Array }>`SELECT secret_hash FROM tokens`.execute(db)).rows.map((r) =>
      Buffer.from(r.secret_hash).toString("hex"),
    ),
  );
  const secrets = (await sql<{ value: Uint8Array }>`SELECT value FROM server_secrets`.execute(db)).rows;
  expect(secrets.length).toBeGreaterThan(0);
  return secrets.filter((s) => hashes.has(createHmac("sha256", s.value).update(seed).digest("hex"))).length;
}

/** A runtime token of a tenant of its own: the kind of token every deployment has most of. */
async function runtimeTokenOn(srv: TestServer): Promise<string> {
  return (await (await createTestTenant(srv, { allow: ["web"] })).token({ projects: ["web"] })).secret;
}

const whoIs = async (srv: TestServer, token: string) => (await clientOf(srv, token).auth.whoAmI({})).principalId;

describe("the token key", () => {
  it(
    "is in no usable form in a dump of the database: a human-chosen seed cannot be tested offline",
    async () => {
      const seed = randomSeedToken();
      const srv = await serverOn(await freshDatabase(), seed, newRootKey());
      await runtimeTokenOn(srv);
      const key = srv.server.app.bootstrap.tokenKey;
      const dump = await dumpPublicTables(ownerDb(srv));
      expect(dump.text).toContain("token_hmac_key");
      expectNoTokenKeyIn(dump.bytes, key);
      expectNoTokenKeyIn(dump.text, key);
      expect(await storedValuesThatKeyTheSeedHash(ownerDb(srv), seed)).toBe(0);
    },
    RESTARTS_MS,
  );

  it.skipIf(onPostgres)(
    "is in no file of the embedded data directory at rest",
    async () => {
      const database = await freshDatabase();
      const srv = await serverOn(database, randomSeedToken(), newRootKey());
      const key = srv.server.app.bootstrap.tokenKey;
      await srv.stop();
      expectNoTokenKeyIn(readEveryFile(database.dataDir), key);
    },
    RESTARTS_MS,
  );

  it(
    "stays the same across a restart: every token keeps working",
    async () => {
      const database = await freshDatabase();
      const [seed, root] = [randomSeedToken(), newRootKey()];
      const first = await serverOn(database, seed, root);
      const runtime = await runtimeTokenOn(first);
      const id = await whoIs(first, runtime);
      await first.stop();
      const second = await serverOn(database, seed, root);
      expect(await whoIs(second, runtime)).toBe(id);
      expect((await second.admin().auth.whoAmI({})).platformAdmin).toBe(true);
    },
    RESTARTS_MS,
  );

  it(
    "stays the same across root key rotation: tokens work after it, and once the old root key is retired",
    async () => {
      const database = await freshDatabase();
      const [seed, k1, k2] = [randomSeedToken(), newRootKey(), newRootKey()];
      const first = await serverOn(database, seed, k1);
      const runtime = await runtimeTokenOn(first);
      const id = await whoIs(first, runtime);
      await first.stop();

      const rotating = await serverOn(database, seed, k2, [k1]);
      const before = (
        await sql<{ value: Uint8Array }>`SELECT value FROM server_secrets WHERE name = 'token_hmac_key'`.execute(
          ownerDb(rotating),
        )
      ).rows[0].value;
      const { rootKeyId } = await rotating.admin().keys.rotateRootKey({});
      const after = await sql<{
        value: Uint8Array;
        root_key_id: string;
      }>`SELECT value, root_key_id FROM server_secrets WHERE name = 'token_hmac_key'`.execute(ownerDb(rotating));
      expect(after.rows.map((r) => r.root_key_id)).toEqual([rootKeyId]);
      expect(Buffer.from(after.rows[0].value).equals(Buffer.from(before))).toBe(false); // re-wrapped
      expect(await whoIs(rotating, runtime)).toBe(id);
      // The audit checkpoint key is re-wrapped with it: the retired root key unwraps nothing any more.
      const wrappers = await sql<{ root_key_id: string }>`SELECT DISTINCT root_key_id FROM server_secrets`.execute(
        ownerDb(rotating),
      );
      expect(wrappers.rows).toEqual([{ root_key_id: rootKeyId }]);
      await rotating.stop();

      const retired = await serverOn(database, seed, k2);
      expect(await whoIs(retired, runtime)).toBe(id);
      expect((await retired.admin().auth.whoAmI({})).platformAdmin).toBe(true);
    },
    RESTARTS_MS,
  );

  it(
    "refuses to start, naming the root key it lacks, when the token key is sealed under a root key it does not hold",
    async () => {
      const database = await freshDatabase();
      const seed = randomSeedToken();
      const first = await serverOn(database, seed, newRootKey());
      const { rootKeyId } = await first.admin().keys.rotateRootKey({});
      await first.stop();
      const refused = await serverOn(database, seed, newRootKey()).catch((err: Error) => err);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toContain(
        `the token key is wrapped by root key ${rootKeyId}, which this server does not hold`,
      );
      expect((refused as Error).message).toContain("ENGINE_CLOUD_PREVIOUS_MASTER_KEYS");
    },
    RESTARTS_MS,
  );
});

describe("a database from before the token key was sealed", () => {
  /**
   * Puts the database back to how the previous version left it: the token key
   * in plaintext, and migration 7 not applied.
   */
  async function asBeforeTheChange(srv: TestServer) {
    const db = ownerDb(srv);
    const key = Buffer.from(srv.server.app.bootstrap.tokenKey);
    await sql`ALTER TABLE server_secrets DROP COLUMN root_key_id, DROP COLUMN rewrapped_at`.execute(db);
    await sql`UPDATE server_secrets SET value = ${key} WHERE name = 'token_hmac_key'`.execute(db);
    await sql`DELETE FROM engine_migrations WHERE version = 7`.execute(db);
    // Before the change no other server secret existed (the audit signing key came later, sealed from the start).
    await sql`DELETE FROM server_secrets WHERE name <> 'token_hmac_key'`.execute(db);
    return key;
  }

  it(
    "keeps every token working, and holds the key only sealed from its next start on",
    async () => {
      const database = await freshDatabase();
      const [seed, root] = [randomSeedToken(), newRootKey()];
      const old = await serverOn(database, seed, root);
      const runtime = await runtimeTokenOn(old);
      const id = await whoIs(old, runtime);
      const key = await asBeforeTheChange(old);
      expect(await storedValuesThatKeyTheSeedHash(ownerDb(old), seed)).toBe(1); // the hole, as it was
      await old.stop();

      const upgraded = await serverOn(database, seed, root);
      expect(upgraded.logs.join("")).toContain("sealed the token key under the root key");
      expect(await whoIs(upgraded, runtime)).toBe(id);
      expect((await upgraded.admin().auth.whoAmI({})).platformAdmin).toBe(true);
      const dump = await dumpPublicTables(ownerDb(upgraded));
      expectNoTokenKeyIn(dump.bytes, key);
      expect(await storedValuesThatKeyTheSeedHash(ownerDb(upgraded), seed)).toBe(0);
      await upgraded.stop();

      // And the sealed key opens on the start after.
      const next = await serverOn(database, seed, root);
      expect(await whoIs(next, runtime)).toBe(id);
      expect(next.logs.join("")).not.toContain("sealed the token key");
    },
    RESTARTS_MS,
  );
});
