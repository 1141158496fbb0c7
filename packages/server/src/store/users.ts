import { sql, type Selectable } from "kysely";
import type { Executor, Tx, UsersTable } from "./schema.js";

// People's accounts: global rows, found before any tenant is known.

/** The failed login that starts the delays (the in-memory throttle and the shared lockout use the same number). */
export const FREE_LOGIN_FAILURES = 5;

export type UserRow = Selectable<UsersTable>;

/** Account look-up for login: global (the tenant is not known yet), on the owner connection. */
export async function findUserByEmail(db: Executor, email: string) {
  return db
    .selectFrom("users")
    .selectAll()
    .where(sql<string>`lower(email)`, "=", email.toLowerCase())
    .executeTakeFirst();
}

export async function findUserById(db: Executor, id: string) {
  return db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function insertUser(
  db: Executor,
  u: { email: string; displayName: string; passwordHash: string; platformAdmin?: boolean; emailVerified?: boolean },
) {
  return db
    .insertInto("users")
    .values({
      email: u.email,
      display_name: u.displayName,
      password_hash: u.passwordHash,
      platform_admin: u.platformAdmin ?? false,
      email_verified_at: u.emailVerified ? sql<Date>`now()` : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function recordLoginSuccess(db: Executor, userId: string): Promise<void> {
  await db
    .updateTable("users")
    .set({ failed_logins: 0, locked_until: null, last_login_at: sql`now()` })
    .where("id", "=", userId)
    .execute();
}

/**
 * The mailbox holder of an unverified account takes it over (an emailed invitation proved the address): their
 * name and password replace whatever whoever created it chose, and the address counts as verified from now on.
 */
export async function claimUnverifiedAccount(
  db: Executor,
  userId: string,
  u: { displayName: string; passwordHash: string },
): Promise<boolean> {
  const r = await db
    .updateTable("users")
    .set({ display_name: u.displayName, password_hash: u.passwordHash, email_verified_at: sql`now()`, failed_logins: 0 })
    .where("id", "=", userId)
    .where("email_verified_at", "is", null)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** The person proved their address (accepted an invitation mailed to it). */
export async function markEmailVerified(db: Executor, userId: string): Promise<void> {
  await db
    .updateTable("users")
    .set({ email_verified_at: sql`coalesce(email_verified_at, now())` })
    .where("id", "=", userId)
    .execute();
}

export async function setPasswordHash(db: Executor, userId: string, hash: string): Promise<void> {
  await db.updateTable("users").set({ password_hash: hash }).where("id", "=", userId).execute();
}

export async function disableUser(db: Executor, userId: string): Promise<boolean> {
  const r = await db
    .updateTable("users")
    .set({ disabled_at: sql`coalesce(disabled_at, now())` })
    .where("id", "=", userId)
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Whether a platform administrator person exists who can still sign in. */
export async function hasPlatformAdminPerson(db: Executor): Promise<boolean> {
  const row = await db
    .selectFrom("users")
    .select("id")
    .where("platform_admin", "=", true)
    .where("disabled_at", "is", null)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Locks a platform administrator person's row FOR SHARE while they are one and not disabled; undefined otherwise. */
export async function lockPlatformAdminPersonForShare(tx: Tx, userId: string) {
  return tx
    .selectFrom("users")
    .select("id")
    .where("id", "=", userId)
    .where("platform_admin", "=", true)
    .where("disabled_at", "is", null)
    .forShare()
    .executeTakeFirst();
}
