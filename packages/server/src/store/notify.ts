import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

/**
 * Sends one NOTIFY. A notification needs no durable commit (a lost one is
 * healed by catch-up), so its one-statement transaction commits without
 * waiting for the WAL flush.
 */
export async function notify(db: Kysely<Database>, channel: string, payload: string): Promise<void> {
  await sql`SELECT set_config('synchronous_commit', 'off', true), pg_notify(${channel}, ${payload})`.execute(db);
}
