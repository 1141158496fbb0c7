import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import { LIVE_WINDOW_MS } from "./server-instances.js";

/**
 * Adds each key's admitted requests since the last flush to its running
 * total, in one statement, and returns the new totals (every process's
 * admissions included). A delta of 0 still returns the total: that is how a
 * process hears of what the others admitted.
 */
export async function addToCounters(db: Kysely<Database>, deltas: Map<string, number>): Promise<Map<string, number>> {
  if (deltas.size === 0) return new Map();
  const rows = await db
    .insertInto("limit_counters")
    .values([...deltas].map(([key, total]) => ({ key, total })))
    .onConflict((oc) =>
      oc.column("key").doUpdateSet({ total: sql`limit_counters.total + excluded.total`, updated_at: sql`now()` }),
    )
    .returning(["key", "total"])
    .execute();
  return new Map(rows.map((r) => [r.key, Number(r.total)]));
}

/** Counters no process has touched for this long are forgotten (a process meeting the key again starts afresh). */
export async function dropIdleCounters(db: Kysely<Database>, idleMs: number): Promise<void> {
  await db
    .deleteFrom("limit_counters")
    .where("updated_at", "<", sql<Date>`now() - ${idleMs} * interval '1 millisecond'`)
    .execute();
}

/** Replaces this process's open-stream counts with `counts` (zeros left out). */
export async function replaceStreamCounts(db: Kysely<Database>, instanceId: string, counts: Map<string, number>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom("stream_counts").where("instance_id", "=", instanceId).execute();
    const rows = [...counts].filter(([, count]) => count > 0).map(([key, count]) => ({ instance_id: instanceId, key, count }));
    if (rows.length > 0) await tx.insertInto("stream_counts").values(rows).execute();
  });
}

/** Open streams per key on every other live process (one whose heartbeat is recent). */
export async function othersStreamCounts(db: Kysely<Database>, instanceId: string): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom("stream_counts as s")
    .innerJoin("server_instances as i", "i.id", "s.instance_id")
    .select(["s.key", sql<string>`sum(s.count)`.as("count")])
    .where("s.instance_id", "!=", instanceId)
    .where("i.heartbeat_at", ">", sql<Date>`now() - ${LIVE_WINDOW_MS} * interval '1 millisecond'`)
    .groupBy("s.key")
    .execute();
  return new Map(rows.map((r) => [r.key, Number(r.count)]));
}

/** Leaves, and clears the counts of processes that died without leaving. */
export async function dropStreamCounts(db: Kysely<Database>, instanceId: string): Promise<void> {
  await db
    .deleteFrom("stream_counts")
    .where((eb) =>
      eb.or([eb("instance_id", "=", instanceId), eb("instance_id", "not in", eb.selectFrom("server_instances").select("id"))]),
    )
    .execute();
}
