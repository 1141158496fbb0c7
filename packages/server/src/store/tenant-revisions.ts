import { sql, type Kysely, type QueryCreator } from "kysely";
import type { Database, Tx } from "./schema.js";

/**
 * The tenant's next revision. The UPDATE holds the tenant's revision row lock
 * until commit, so one tenant's writers commit in revision order (see
 * migration 0002). Take it as late as possible in a transaction: it
 * serialises that tenant's writers from here to commit.
 */
export async function nextTenantRevision(tx: Tx, tenantId: string): Promise<number> {
  const row = await takeNextRevision(tx, tenantId).executeTakeFirstOrThrow();
  return Number(row.revision);
}

/** nextTenantRevision's statement, for a write that takes the revision in the same statement (a CTE). */
export function takeNextRevision(qb: QueryCreator<Database>, tenantId: string) {
  return qb
    .insertInto("tenant_revisions")
    .values({ tenant_id: tenantId, revision: 1 })
    .onConflict((oc) => oc.column("tenant_id").doUpdateSet({ revision: sql`tenant_revisions.revision + 1` }))
    .returning("revision");
}

/** The tenant's current revision, and the oldest one a runtime may resume from without a RESET. */
export async function tenantRevision(tx: Tx, tenantId: string): Promise<{ revision: number; retainedFrom: number }> {
  const row = await tx
    .selectFrom("tenant_revisions")
    .select(["revision", "retained_from"])
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  return { revision: Number(row?.revision ?? 0), retainedFrom: Number(row?.retained_from ?? 0) };
}

/** Takes the tenant's revision lock without advancing it: what a purge holds so no writer interleaves. */
export async function lockTenantRevision(tx: Tx, tenantId: string): Promise<void> {
  await tx.selectFrom("tenant_revisions").select("revision").where("tenant_id", "=", tenantId).forUpdate().execute();
}

/** Raises the oldest resumable revision: runtimes behind it could have missed a purged delete. */
export async function raiseRetainedFrom(tx: Tx, tenantId: string, revision: number): Promise<void> {
  await tx
    .updateTable("tenant_revisions")
    .set({ retained_from: sql`greatest(retained_from, ${revision})` })
    .where("tenant_id", "=", tenantId)
    .execute();
}

/** Current revisions of many tenants at once: the hub's check for notifications it never got. */
export async function currentRevisions(db: Kysely<Database>, tenantIds: string[]): Promise<Map<string, number>> {
  if (tenantIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("tenant_revisions")
    .select(["tenant_id", "revision"])
    .where("tenant_id", "in", tenantIds)
    .execute();
  return new Map(rows.map((r) => [r.tenant_id, Number(r.revision)]));
}
