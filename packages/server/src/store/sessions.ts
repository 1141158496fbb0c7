import { sql, type Kysely, type Selectable } from "kysely";
import { runCompiledOnce } from "./compiled-once.js";
import type { Database, Executor, Tx, RoleColumn, SessionsTable, TenantStateColumn } from "./schema.js";

// People's sessions: one per sign-in, in one tenant, stored as a keyed hash.

export type SessionRow = Omit<Selectable<SessionsTable>, "secret_hash">;

export async function insertSession(
  tx: Tx,
  s: { tenantId: string; userId: string; secretHash: Uint8Array; displayPrefix: string; idleExpiresAt: Date; expiresAt: Date },
): Promise<SessionRow> {
  return tx
    .insertInto("sessions")
    .values({
      tenant_id: s.tenantId,
      user_id: s.userId,
      secret_hash: s.secretHash,
      display_prefix: s.displayPrefix,
      idle_expires_at: s.idleExpiresAt,
      expires_at: s.expiresAt,
    })
    .returning([
      "tenant_id",
      "id",
      "user_id",
      "display_prefix",
      "created_at",
      "last_used_at",
      "idle_expires_at",
      "expires_at",
      "revoked_at",
    ])
    .executeTakeFirstOrThrow();
}

export interface SessionWithPrincipal {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string;
  user_disabled: Date | null;
  user_platform_admin: boolean;
  role: RoleColumn | null;
  tenant_slug: string;
  tenant_state: TenantStateColumn;
  idle_expires_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

/** Session by keyed hash, with everything verification needs (owner connection, like tokens). */
export async function findSessionByHash(db: Kysely<Database>, hash: Uint8Array): Promise<SessionWithPrincipal | undefined> {
  const [row] = await runCompiledOnce(
    db,
    "findSessionByHash",
    () =>
      db
        .selectFrom("sessions")
        .innerJoin("users", "users.id", "sessions.user_id")
        .innerJoin("tenants", "tenants.id", "sessions.tenant_id")
        .leftJoin("memberships", (j) =>
          j.onRef("memberships.tenant_id", "=", "sessions.tenant_id").onRef("memberships.user_id", "=", "sessions.user_id"),
        )
        .select([
          "sessions.id",
          "sessions.tenant_id",
          "sessions.user_id",
          "users.email",
          "users.disabled_at as user_disabled",
          "users.platform_admin as user_platform_admin",
          "memberships.role",
          "tenants.slug as tenant_slug",
          "tenants.state as tenant_state",
          "sessions.idle_expires_at",
          "sessions.expires_at",
          "sessions.revoked_at",
        ])
        .where("sessions.secret_hash", "=", hash),
    [hash],
  );
  return row;
}

/** Sessions of a person across tenants (owner connection): a person's own sessions are theirs to see. */
export async function openSessionsOfUser(db: Executor, userId: string) {
  return db
    .selectFrom("sessions")
    .select([
      "tenant_id",
      "id",
      "user_id",
      "display_prefix",
      "created_at",
      "last_used_at",
      "idle_expires_at",
      "expires_at",
      "revoked_at",
    ])
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .where("idle_expires_at", ">", sql<Date>`now()`)
    .orderBy("created_at", "desc")
    .execute();
}

/** Revokes sessions of a person: one (sessionId), all but one (exceptId), or all. Returns the ids revoked. */
export async function revokeSessions(
  db: Executor,
  userId: string,
  opts: { sessionId?: string; exceptId?: string; tenantId?: string } = {},
): Promise<Array<{ id: string; tenant_id: string }>> {
  let q = db
    .updateTable("sessions")
    .set({ revoked_at: sql`now()` })
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null);
  if (opts.sessionId) q = q.where("id", "=", opts.sessionId);
  if (opts.exceptId) q = q.where("id", "!=", opts.exceptId);
  if (opts.tenantId) q = q.where("tenant_id", "=", opts.tenantId);
  return q.returning(["id", "tenant_id"]).execute();
}

/** Slides the idle window of recently used sessions, in one statement per batch. */
export async function touchSessions(db: Kysely<Database>, ids: string[], idleMs: number): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable("sessions")
    .set({
      last_used_at: sql`now()`,
      idle_expires_at: sql`least(expires_at, now() + ${idleMs} * interval '1 millisecond')`,
    })
    .where("id", "in", ids)
    .where("revoked_at", "is", null)
    .execute();
}
