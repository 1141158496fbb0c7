import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";
import { migrations } from "./migrations/index.js";

/** Serialises start-up work across every server process sharing the database. */
export const STARTUP_LOCK_KEY = 7_070_001;

/**
 * Applies pending migrations in one transaction under an advisory lock, so
 * two servers starting at once neither race nor half-apply.
 * Returns the versions applied.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<number[]> {
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${STARTUP_LOCK_KEY})`.execute(tx);
    await sql`CREATE TABLE IF NOT EXISTS engine_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`.execute(tx);
    const done = await sql<{ version: number }>`SELECT version FROM engine_migrations`.execute(tx);
    const applied = new Set(done.rows.map((r) => r.version));
    const ran: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await sql.raw(m.up).execute(tx);
      await sql`INSERT INTO engine_migrations (version, name) VALUES (${m.version}, ${m.name})`.execute(tx);
      ran.push(m.version);
    }
    return ran;
  });
}

/** Holds the start-up lock until the transaction ends: bootstrap seeds under it, after migrations. */
export async function takeStartupLock(tx: Transaction<Database>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${STARTUP_LOCK_KEY})`.execute(tx);
}
