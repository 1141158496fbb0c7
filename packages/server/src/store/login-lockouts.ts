import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

/** How failed sign-ins on one key turn into a lock: from the `freeFailures`th on, 1 s doubling to 15 min. */
export interface LockoutPolicy {
  freeFailures: number;
  /** One failure is forgiven per this long without another; 0: they last until a success. */
  forgiveMs: number;
}

/** How long the longest lock on any of `keys` still runs, in ms (0: none). */
export async function lockedForMs(db: Kysely<Database>, keys: string[]): Promise<number> {
  const row = await db
    .selectFrom("login_lockouts")
    .select(sql<number>`coalesce(max(extract(epoch from locked_until - now()) * 1000), 0)`.as("ms"))
    .where("key", "in", keys)
    .where("locked_until", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return Math.max(0, Math.ceil(Number(row?.ms ?? 0)));
}

/**
 * Counts one failed sign-in against each key, in one statement, and sets the
 * lock it earns. The same statement for every key, an account's or an
 * address's, known or not: nothing in the database tells them apart.
 */
export async function recordFailedSignIn(
  db: Kysely<Database>,
  strikes: Array<{ key: string; policy: LockoutPolicy }>,
): Promise<void> {
  // Rows are locked in key order, so two sign-ins striking the same keys never deadlock.
  const sorted = [...strikes].sort((a, b) => (a.key < b.key ? -1 : 1));
  const rows = sorted.map(
    ({ key, policy: p }) =>
      sql`(${key}, 1, ${p.freeFailures}::int, ${p.forgiveMs}::int, now(),
        CASE WHEN ${p.freeFailures}::int <= 1 THEN now() + interval '1 second' END)`,
  );
  const failures = sql`(greatest(0, l.failures - CASE WHEN l.forgive_ms > 0
    THEN floor(extract(epoch from now() - l.struck_at) * 1000 / l.forgive_ms)::int ELSE 0 END) + 1)`;
  await sql`
    INSERT INTO login_lockouts AS l (key, failures, free_failures, forgive_ms, struck_at, locked_until)
    VALUES ${sql.join(rows)}
    ON CONFLICT (key) DO UPDATE SET
      failures = ${failures},
      free_failures = excluded.free_failures,
      forgive_ms = excluded.forgive_ms,
      struck_at = now(),
      locked_until = CASE WHEN ${failures} >= excluded.free_failures
        THEN greatest(l.locked_until,
          now() + least(interval '15 minutes', interval '1 second' * power(2, ${failures} - excluded.free_failures)))
        ELSE l.locked_until END`.execute(db);
}

/** A successful sign-in clears the account's failures (never the address's). */
export async function clearFailedSignIns(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom("login_lockouts").where("key", "=", key).execute();
}

/** Failures with no other for this long are forgotten, and their lock long over. */
export async function forgetOldFailedSignIns(db: Kysely<Database>, idleMs: number): Promise<void> {
  await db
    .deleteFrom("login_lockouts")
    .where("struck_at", "<", sql<Date>`now() - ${idleMs} * interval '1 millisecond'`)
    .where((eb) => eb.or([eb("locked_until", "is", null), eb("locked_until", "<", sql<Date>`now()`)]))
    .execute();
}
