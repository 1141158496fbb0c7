import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";

export interface BenchDatabase {
  /** "postgres" or "pglite", for the printed tables. */
  kind: string;
  /** DATABASE_URL for the server; undefined means PGlite in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  drop(): Promise<void>;
}

/**
 * A database of the benchmark's own, dropped afterwards: a fresh database on
 * the given PostgreSQL server (`CREATE DATABASE bench_<random>`), or an empty
 * PGlite data directory when no URL is given.
 */
export async function createBenchDatabase(postgresUrl?: string): Promise<BenchDatabase> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-bench-"));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (!postgresUrl) return { kind: "pglite", dataDir, drop: async () => removeDir() };

  const name = `bench_${randomBytes(6).toString("hex")}`;
  await onServer(postgresUrl, `CREATE DATABASE ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    kind: "postgres",
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      removeDir();
      await onServer(postgresUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function onServer(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
