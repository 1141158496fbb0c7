import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";

/** Set to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the suites on PostgreSQL. */
export const POSTGRES_URL = process.env.ENGINE_TEST_POSTGRES_URL;
export const onPostgres = Boolean(POSTGRES_URL);

export interface TestDatabase {
  /** DATABASE_URL for the server, or undefined for PGlite in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  drop(): Promise<void>;
}

/**
 * A database of the test's own: a fresh PostgreSQL database per call when
 * ENGINE_TEST_POSTGRES_URL is set, otherwise an empty PGlite data directory.
 * `engine` asks for one of them whatever the environment says (suites that
 * cover both in one run); "postgres" needs ENGINE_TEST_POSTGRES_URL.
 */
export async function createTestDatabase(
  engine: "pglite" | "postgres" = onPostgres ? "postgres" : "pglite",
): Promise<TestDatabase> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-test-"));
  if (engine === "pglite") {
    return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  if (!POSTGRES_URL) throw new Error("a PostgreSQL test database needs ENGINE_TEST_POSTGRES_URL");
  const name = `ec_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      rmSync(dataDir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
