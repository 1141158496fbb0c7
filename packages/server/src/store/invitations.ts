import { sql, type Selectable } from "kysely";
import type { Executor, Tx, InvitationDeliveryColumn, InvitationsTable, RoleColumn } from "./schema.js";

// Invitations to a tenant: one-time codes, stored as a keyed hash.

export async function insertInvitation(
  tx: Tx,
  i: {
    tenantId: string;
    email: string;
    role: RoleColumn;
    codeHash: Uint8Array;
    actor: string;
    expiresAt: Date;
    delivery: InvitationDeliveryColumn;
  },
) {
  return tx
    .insertInto("invitations")
    .values({
      tenant_id: i.tenantId,
      email: i.email,
      role: i.role,
      code_hash: i.codeHash,
      created_by: i.actor,
      expires_at: i.expiresAt,
      delivery: i.delivery,
    })
    .returning(invitationColumns)
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
      "invitations.delivery",
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
  "delivery",
  "email_sent_at",
  "email_error",
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
  return tx
    .selectFrom("invitations")
    .select(invitationColumns)
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
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

/** How mailing an invitation went: when the mail server took it, or why it failed (the last attempt's words). */
export async function recordInvitationMail(
  tx: Tx,
  tenantId: string,
  id: string,
  outcome: { sentAt: Date } | { error: string },
): Promise<void> {
  await tx
    .updateTable("invitations")
    .set("sentAt" in outcome ? { email_sent_at: outcome.sentAt, email_error: null } : { email_error: outcome.error })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .execute();
}
