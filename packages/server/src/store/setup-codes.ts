import { sql } from "kysely";
import type { Executor, Tx } from "./schema.js";

// The one-time codes that create the first platform administrator person (owner connection only).

/** Stores a new code's hash; every earlier code ends, so only the code printed last works. */
export async function replaceSetupCode(tx: Tx, codeHash: Uint8Array, expiresAt: Date): Promise<void> {
  await tx
    .updateTable("setup_codes")
    .set({ ended_at: sql`now()` })
    .where("ended_at", "is", null)
    .execute();
  await tx.insertInto("setup_codes").values({ code_hash: codeHash, expires_at: expiresAt }).execute();
}

/**
 * Uses the code: true once, for a live code, and never again (the update is the claim, so two calls racing
 * with one code cannot both win).
 */
export async function claimSetupCode(tx: Tx, codeHash: Uint8Array): Promise<boolean> {
  const r = await tx
    .updateTable("setup_codes")
    .set({ ended_at: sql`now()` })
    .where("code_hash", "=", codeHash)
    .where("ended_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Whether the code could be used now (read only: the claim is claimSetupCode's, in the creating transaction). */
export async function setupCodeIsLive(db: Executor, codeHash: Uint8Array): Promise<boolean> {
  const row = await db
    .selectFrom("setup_codes")
    .select("id")
    .where("code_hash", "=", codeHash)
    .where("ended_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return row !== undefined;
}
