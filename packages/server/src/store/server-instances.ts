import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

/** A process is live while its heartbeat is this recent (three missed beats). */
export const LIVE_WINDOW_MS = 6_000;

export async function heartbeat(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .insertInto("server_instances")
    .values({ id, heartbeat_at: sql`now()` })
    .onConflict((oc) => oc.column("id").doUpdateSet({ heartbeat_at: sql`now()` }))
    .execute();
}

export async function livePeers(db: Kysely<Database>, self: string): Promise<string[]> {
  const rows = await db
    .selectFrom("server_instances")
    .select("id")
    .where("id", "!=", self)
    .where("heartbeat_at", ">", sql<Date>`now() - ${LIVE_WINDOW_MS} * interval '1 millisecond'`)
    .execute();
  return rows.map((r) => r.id);
}

/** Leaves the set, and clears out processes that died without leaving. */
export async function leave(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .deleteFrom("server_instances")
    .where((eb) => eb.or([eb("id", "=", id), eb("heartbeat_at", "<", sql<Date>`now() - interval '1 hour'`)]))
    .execute();
}
