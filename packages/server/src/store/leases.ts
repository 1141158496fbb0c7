import { sql, type ExpressionBuilder, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";

/**
 * What a lease is for: a job is `{ kind: "job", key: <its name> }`; one work
 * item (an OAuth connection to refresh) is `{ kind: <item kind>, key: <its id> }`,
 * so items of one kind are claimed one by one, by whichever process is free.
 */
export interface LeaseKey {
  kind: string;
  key: string;
}

/** A lease as a holder claimed it. */
export interface LeaseClaim extends LeaseKey {
  holder: string;
  /** The fencing generation: one more than the previous claim of this lease, never reused. */
  generation: number;
}

/**
 * The claim a piece of work ran under is no longer current: it expired, or
 * another holder claimed the lease since. Thrown inside the work's
 * transaction, so that transaction rolls back.
 */
export class LeaseLostError extends Error {
  constructor(readonly claim: LeaseClaim) {
    super(`lease ${claim.kind}/${claim.key} generation ${claim.generation} is no longer held by ${claim.holder}`);
    this.name = "LeaseLostError";
  }
}

// Every expiry is set and compared on the database's clock: processes' clocks
// may disagree by more than a lease lasts, the database's is the one all share.
const fromNow = (ms: number) => sql<Date>`now() + ${ms} * interval '1 millisecond'`;

/**
 * Claims the lease for `holder` until `leaseMs` from now if nobody holds it
 * (never claimed, released, or expired), in one statement, so two claimers
 * cannot both win. Undefined when someone else holds it.
 *
 * A conditional write, not an advisory lock: a session advisory lock belongs
 * to a connection, and behind a transaction pooler (PgBouncer) the next
 * statement may run on another server connection, or the lock outlive its
 * holder on one handed to someone else.
 */
export async function claimLease(
  db: Kysely<Database>,
  lease: LeaseKey,
  holder: string,
  leaseMs: number,
): Promise<LeaseClaim | undefined> {
  const row = await db
    .insertInto("leases")
    .values({ kind: lease.kind, key: lease.key, holder, generation: 1, expires_at: fromNow(leaseMs) })
    .onConflict((oc) =>
      oc
        .columns(["kind", "key"])
        .doUpdateSet({
          holder,
          generation: sql<number>`leases.generation + 1`,
          expires_at: fromNow(leaseMs),
          claimed_at: sql<Date>`now()`,
        })
        .where((eb) => eb.or([eb("leases.holder", "is", null), eb("leases.expires_at", "<=", sql<Date>`now()`)])),
    )
    .returning("generation")
    .executeTakeFirst();
  return row && { kind: lease.kind, key: lease.key, holder, generation: Number(row.generation) };
}

/**
 * Extends the holder's claim to `leaseMs` from now; false once it has lost it.
 * An expired claim is not revived even if nobody took it: the holder claims
 * anew and gets a new generation, so work begun under the old one is fenced.
 */
export async function renewLease(db: Kysely<Database>, claim: LeaseClaim, leaseMs: number): Promise<boolean> {
  const result = await db
    .updateTable("leases")
    .set({ expires_at: fromNow(leaseMs) })
    .where(isClaim(claim))
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Gives the lease up at once (clean shutdown), so the next process need not wait for its expiry. */
export async function releaseLease(db: Kysely<Database>, claim: LeaseClaim): Promise<void> {
  await db
    .updateTable("leases")
    .set({ holder: null, expires_at: sql<Date>`now()` })
    .where(isClaim(claim))
    .execute();
}

/**
 * The fence: inside the work's transaction, proves the claim is still current
 * and locks the lease row until that transaction ends, so no other holder can
 * claim the lease before it commits (a claim waits on the row lock, then finds
 * a fresh expiry or a released lease). Throws LeaseLostError otherwise, and
 * the transaction rolls back.
 *
 * clock_timestamp(), not now(): now() is the time the transaction began, and
 * work that began before its lease expired must not count as current after.
 */
export async function holdLease(tx: Transaction<Database>, claim: LeaseClaim): Promise<void> {
  const row = await tx
    .selectFrom("leases")
    .select("generation")
    .where(isClaim(claim))
    .where("expires_at", ">", sql<Date>`clock_timestamp()`)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw new LeaseLostError(claim);
}

/** Runs `fn` in a transaction that commits only while `claim` is current (see holdLease). */
export function commitUnderLease<T>(
  db: Kysely<Database>,
  claim: LeaseClaim,
  fn: (tx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await holdLease(tx, claim);
    return fn(tx);
  });
}

/** The row of this very claim: its lease, holder and generation. */
const isClaim = (claim: LeaseClaim) => (eb: ExpressionBuilder<Database, "leases">) =>
  eb.and({ kind: claim.kind, key: claim.key, holder: claim.holder, generation: claim.generation });
