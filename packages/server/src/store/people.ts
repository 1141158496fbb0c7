import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { runCompiledOnce } from "./compiled-once.js";
import type { Database, InvitationsTable, MembershipsTable, RoleColumn, SessionsTable, TenantStateColumn, UsersTable } from "./schema.js";
import type { Executor } from "./tokens.js";

type Tx = Transaction<Database>;

/** The failed login that starts the delays (the in-memory throttle and the shared lockout use the same number). */
export const FREE_LOGIN_FAILURES = 5;

export type UserRow = Selectable<UsersTable>;
export type MembershipRow = Selectable<MembershipsTable>;
export type SessionRow = Omit<Selectable<SessionsTable>, "secret_hash">;

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

export async function insertUser(db: Executor, u: { email: string; displayName: string; passwordHash: string }) {
  return db
    .insertInto("users")
    .values({ email: u.email, display_name: u.displayName, password_hash: u.passwordHash })
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

/** Every tenant a person belongs to, oldest membership first (owner connection: login has no tenant yet). */
export async function membershipsOfUser(db: Executor, userId: string) {
  return db
    .selectFrom("memberships")
    .innerJoin("tenants", "tenants.id", "memberships.tenant_id")
    .select(["memberships.tenant_id", "memberships.role", "tenants.slug", "tenants.state"])
    .where("memberships.user_id", "=", userId)
    .orderBy("memberships.created_at")
    .execute();
}

export async function getMembership(tx: Tx, tenantId: string, userId: string) {
  return tx
    .selectFrom("memberships")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
}

export async function insertMembership(tx: Tx, m: { tenantId: string; userId: string; role: RoleColumn; actor: string }) {
  return tx
    .insertInto("memberships")
    .values({ tenant_id: m.tenantId, user_id: m.userId, role: m.role, created_by: m.actor })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A person's membership with their account state, locked FOR SHARE until the
 * transaction ends: whoever removes, demotes or disables them meanwhile waits,
 * so a right checked here holds until commit (owner connection).
 */
export async function lockMembershipForShare(tx: Tx, tenantId: string, userId: string) {
  return tx
    .selectFrom("memberships")
    .innerJoin("users", "users.id", "memberships.user_id")
    .select(["memberships.role", "memberships.created_at", "users.disabled_at"])
    .where("memberships.tenant_id", "=", tenantId)
    .where("memberships.user_id", "=", userId)
    .forShare()
    .executeTakeFirst();
}

export async function setMemberRole(tx: Tx, tenantId: string, userId: string, role: RoleColumn) {
  return tx
    .updateTable("memberships")
    .set({ role })
    .where("tenant_id", "=", tenantId)
    .where("user_id", "=", userId)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteMembership(tx: Tx, tenantId: string, userId: string): Promise<boolean> {
  const r = await tx.deleteFrom("memberships").where("tenant_id", "=", tenantId).where("user_id", "=", userId).executeTakeFirst();
  return r.numDeletedRows > 0n;
}

/** Locks the tenant's owner rows, so two concurrent demotions cannot both pass the last-owner check. */
export async function lockOwners(tx: Tx, tenantId: string): Promise<string[]> {
  const rows = await tx
    .selectFrom("memberships")
    .select("user_id")
    .where("tenant_id", "=", tenantId)
    .where("role", "=", "owner")
    .forUpdate()
    .execute();
  return rows.map((r) => r.user_id);
}

/** Members with their (RLS-visible) account fields, by email. */
export async function listMembers(tx: Tx, tenantId: string, opts: { limit: number; afterEmail?: string }) {
  let q = tx
    .selectFrom("memberships")
    .innerJoin("users", "users.id", "memberships.user_id")
    .select([
      "memberships.user_id",
      "memberships.role",
      "memberships.created_at",
      "memberships.created_by",
      "users.email",
      "users.display_name",
      "users.last_login_at",
      "users.disabled_at",
    ])
    .where("memberships.tenant_id", "=", tenantId)
    .orderBy(sql`lower(users.email)`)
    .limit(opts.limit);
  if (opts.afterEmail !== undefined) q = q.where(sql<string>`lower(users.email)`, ">", opts.afterEmail.toLowerCase());
  return q.execute();
}

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
    .returning(["tenant_id", "id", "user_id", "display_prefix", "created_at", "last_used_at", "idle_expires_at", "expires_at", "revoked_at"])
    .executeTakeFirstOrThrow();
}

export interface SessionWithPrincipal {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string;
  user_disabled: Date | null;
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
    .select(["tenant_id", "id", "user_id", "display_prefix", "created_at", "last_used_at", "idle_expires_at", "expires_at", "revoked_at"])
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

export async function insertInvitation(
  tx: Tx,
  i: { tenantId: string; email: string; role: RoleColumn; codeHash: Uint8Array; actor: string; expiresAt: Date },
) {
  return tx
    .insertInto("invitations")
    .values({ tenant_id: i.tenantId, email: i.email, role: i.role, code_hash: i.codeHash, created_by: i.actor, expires_at: i.expiresAt })
    .returning(["id", "expires_at"])
    .executeTakeFirstOrThrow();
}

/** Invitation by code hash (owner connection: the person accepting has no tenant yet), locked for the acceptance. */
export async function claimInvitation(tx: Tx, codeHash: Uint8Array) {
  return tx
    .selectFrom("invitations")
    .innerJoin("tenants", "tenants.id", "invitations.tenant_id")
    .select([
      "invitations.tenant_id",
      "invitations.id",
      "invitations.email",
      "invitations.role",
      "invitations.expires_at",
      "invitations.accepted_at",
      "invitations.created_by",
      "invitations.created_at",
      "invitations.revoked_at",
      "invitations.revoked_by",
      "tenants.slug as tenant_slug",
      "tenants.state as tenant_state",
    ])
    .where("invitations.code_hash", "=", codeHash)
    .forUpdate(["invitations"])
    .executeTakeFirst();
}

export async function markInvitationAccepted(tx: Tx, tenantId: string, id: string, userId: string): Promise<void> {
  await tx
    .updateTable("invitations")
    .set({ accepted_at: sql`now()`, accepted_by: userId })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .execute();
}

export type InvitationRow = Omit<Selectable<InvitationsTable>, "code_hash">;

const invitationColumns = [
  "tenant_id",
  "id",
  "email",
  "role",
  "created_at",
  "created_by",
  "expires_at",
  "accepted_at",
  "accepted_by",
  "revoked_at",
  "revoked_by",
] as const;

/** Newest first, keyset-paginated on (created_at, id) like tokens (see listTokens for why the cursor is an id). */
export async function listInvitations(
  tx: Tx,
  tenantId: string,
  opts: { limit: number; afterId?: string; showInactive: boolean; now: Date },
): Promise<InvitationRow[]> {
  let q = tx
    .selectFrom("invitations")
    .select(invitationColumns)
    .where("tenant_id", "=", tenantId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(opts.limit);
  if (opts.afterId) {
    q = q.where(
      sql<boolean>`(created_at, id) < (SELECT i.created_at, i.id FROM invitations i WHERE i.tenant_id = ${tenantId} AND i.id = ${opts.afterId}::uuid)`,
    );
  }
  if (!opts.showInactive) {
    q = q.where("accepted_at", "is", null).where("revoked_at", "is", null).where("expires_at", ">", opts.now);
  }
  return q.execute();
}

/** One invitation, locked for a revocation. */
export async function lockInvitation(tx: Tx, tenantId: string, id: string): Promise<InvitationRow | undefined> {
  return tx
    .selectFrom("invitations")
    .select(invitationColumns)
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .forUpdate()
    .executeTakeFirst();
}

/** Revokes once: an already revoked invitation keeps its first revocation. */
export async function revokeInvitation(tx: Tx, tenantId: string, id: string, actor: string): Promise<InvitationRow> {
  await tx
    .updateTable("invitations")
    .set({ revoked_at: sql`now()`, revoked_by: actor })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .execute();
  return tx.selectFrom("invitations").select(invitationColumns).where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirstOrThrow();
}

/** Who revoked an invitation that died with its issuer's right to grant its role. */
export const ISSUER_LOST_RIGHT = "issuer-lost-right";

/**
 * Revokes the open invitations these actors issued (optionally only those of
 * some roles, optionally in one tenant): they die with their issuer's right.
 */
export async function revokeInvitationsIssuedBy(
  db: Executor,
  actors: string[],
  opts: { tenantId?: string; roles?: RoleColumn[] } = {},
): Promise<void> {
  if (actors.length === 0 || opts.roles?.length === 0) return;
  let q = db
    .updateTable("invitations")
    .set({ revoked_at: sql`now()`, revoked_by: ISSUER_LOST_RIGHT })
    .where("created_by", "in", actors)
    .where("accepted_at", "is", null)
    .where("revoked_at", "is", null);
  if (opts.tenantId) q = q.where("tenant_id", "=", opts.tenantId);
  if (opts.roles) q = q.where("role", "in", opts.roles);
  await q.execute();
}
