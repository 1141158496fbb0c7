import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateToLatest } from "../packages/server/src/store/migrate.js";
import { openDatabase, type Storage } from "../packages/server/src/store/open-database.js";
import { findSessionByHash } from "../packages/server/src/store/sessions.js";
import { findTokensByHashes } from "../packages/server/src/store/tokens.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";

// The verifier's look-ups of tokens and sessions it has not cached are compiled
// once (store/compiled-once.ts) and, on PostgreSQL, prepared once per connection.

let database: TestDatabase;
let storage: Storage;
beforeAll(async () => {
  database = await createTestDatabase();
  // One connection, so the statements it prepared are the ones this test sees.
  storage = await openDatabase({ ...database, poolSize: 1 });
  await migrateToLatest(storage.db);
});
afterAll(async () => {
  await storage?.close();
  await database?.drop();
});

describe("token and session look-ups", () => {
  it("answer batches of every size, and nothing for unknown hashes", async () => {
    for (const n of [1, 2, 1, 33, 33]) {
      const found = await findTokensByHashes(
        storage.db,
        Array.from({ length: n }, () => randomBytes(32)),
      );
      expect(found.size).toBe(0);
    }
    expect(await findSessionByHash(storage.db, randomBytes(32))).toBeUndefined();
  });

  it.skipIf(!onPostgres)("are prepared once per connection on PostgreSQL, one statement per shape", async () => {
    for (let i = 0; i < 3; i++) {
      await findTokensByHashes(storage.db, [randomBytes(32)]);
      await findTokensByHashes(storage.db, [randomBytes(32), randomBytes(32)]);
      await findSessionByHash(storage.db, randomBytes(32));
    }
    await findTokensByHashes(
      storage.db,
      Array.from({ length: 40 }, () => randomBytes(32)),
    ); // too large a shape to keep
    const { rows } = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements WHERE name LIKE 'ec\\_%'`.execute(
      storage.db,
    );
    expect(rows).toHaveLength(3);
  });
});
