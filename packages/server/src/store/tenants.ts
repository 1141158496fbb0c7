import { sql, type Selectable } from "kysely";
import type { Executor } from "./schema.js";
import type { TenantsTable, TenantStateColumn } from "./schema.js";

export type TenantRow = Selectable<TenantsTable>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Finds a tenant by id or slug: the CLI speaks slugs, the API returns ids. */
export async function findTenant(db: Executor, idOrSlug: string): Promise<TenantRow | undefined> {
  return db
    .selectFrom("tenants")
    .selectAll()
    .where(UUID.test(idOrSlug) ? "id" : "slug", "=", idOrSlug)
    .executeTakeFirst();
}

export async function findOperatorTenant(db: Executor): Promise<TenantRow | undefined> {
  return db.selectFrom("tenants").selectAll().where("is_operator", "=", true).executeTakeFirst();
}

export async function insertTenant(
  db: Executor,
  t: { slug: string; displayName: string; isOperator?: boolean },
): Promise<TenantRow | undefined> {
  return db
    .insertInto("tenants")
    .values({ slug: t.slug, display_name: t.displayName, is_operator: t.isOperator ?? false })
    .onConflict((oc) => oc.column("slug").doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Oldest first, keyset-paginated on (created_at, id); the cursor is the last row's id (see listTokens). */
export async function listTenants(
  db: Executor,
  opts: { limit: number; afterId?: string; showDeleted: boolean },
): Promise<TenantRow[]> {
  let q = db.selectFrom("tenants").selectAll().orderBy("created_at").orderBy("id").limit(opts.limit);
  if (opts.afterId) {
    q = q.where(sql<boolean>`(created_at, id) > (SELECT t.created_at, t.id FROM tenants t WHERE t.id = ${opts.afterId}::uuid)`);
  }
  if (!opts.showDeleted) q = q.where("state", "!=", "deleted");
  return q.execute();
}

export async function updateTenant(
  db: Executor,
  id: string,
  patch: { displayName?: string; state?: TenantStateColumn },
): Promise<TenantRow> {
  return db
    .updateTable("tenants")
    .set({
      ...(patch.displayName !== undefined && { display_name: patch.displayName }),
      ...(patch.state !== undefined && { state: patch.state }),
      ...(patch.state === "deleted" && { deleted_at: sql`now()` }),
      updated_at: sql`now()`,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Ids of tenants that have a data key, for root key rotation (owner connection: a platform task). */
export async function listTenantKeyOwners(db: Executor): Promise<string[]> {
  const rows = await db
    .selectFrom("tenant_keys")
    .innerJoin("tenants", "tenants.id", "tenant_keys.tenant_id")
    .select("tenant_keys.tenant_id")
    .where("tenants.state", "!=", "deleted")
    .orderBy("tenant_keys.tenant_id")
    .execute();
  return rows.map((r) => r.tenant_id);
}

/**
 * Sets and clears limit overrides in one statement, so two administrators
 * changing different limits at once both land.
 */
export async function changeTenantLimits(
  db: Executor,
  id: string,
  change: { set: Record<string, number>; clear: string[] },
): Promise<TenantRow> {
  return db
    .updateTable("tenants")
    .set({
      limits: sql`(limits || ${JSON.stringify(change.set)}::jsonb) - ${change.clear}::text[]`,
      updated_at: sql`now()`,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
