import { sql, type Selectable } from "kysely";
import type { Executor, Tx, MembershipsTable, RoleColumn } from "./schema.js";

// Who belongs to which tenant, in which role.

export type MembershipRow = Selectable<MembershipsTable>;

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
/** Members with what a listing shows of their account. */
const membersOf = (tx: Tx, tenantId: string) =>
  tx
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
    .where("memberships.tenant_id", "=", tenantId);

export async function listMembers(tx: Tx, tenantId: string, opts: { limit: number; afterEmail?: string }) {
  let q = membersOf(tx, tenantId)
    .orderBy(sql`lower(users.email)`)
    .limit(opts.limit);
  if (opts.afterEmail !== undefined) q = q.where(sql<string>`lower(users.email)`, ">", opts.afterEmail.toLowerCase());
  return q.execute();
}

/** One member as a listing shows them. */
export async function findMember(tx: Tx, tenantId: string, userId: string) {
  return membersOf(tx, tenantId).where("memberships.user_id", "=", userId).executeTakeFirst();
}
