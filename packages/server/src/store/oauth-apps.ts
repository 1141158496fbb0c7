import { sql, type Selectable } from "kysely";
import type { CustomProviderColumn, OAuthAppsTable, Tx } from "./schema.js";

export type OAuthAppRow = Selectable<OAuthAppsTable>;

export async function findOAuthApp(tx: Tx, tenantId: string, provider: string, lock = false): Promise<OAuthAppRow | undefined> {
  let q = tx.selectFrom("oauth_apps").selectAll().where("tenant_id", "=", tenantId).where("provider", "=", provider);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function listOAuthApps(
  tx: Tx,
  tenantId: string,
  filter: { provider?: string; sharedOnly?: boolean },
): Promise<OAuthAppRow[]> {
  let q = tx.selectFrom("oauth_apps").selectAll().where("tenant_id", "=", tenantId);
  if (filter.provider) q = q.where("provider", "=", filter.provider);
  if (filter.sharedOnly) q = q.where("shared", "=", true);
  return q.orderBy("provider").execute();
}

/** The tenant's custom providers' definitions, by provider id. */
export async function listCustomProviders(
  tx: Tx,
  tenantId: string,
): Promise<Array<{ provider: string; custom_provider: CustomProviderColumn }>> {
  const rows = await tx
    .selectFrom("oauth_apps")
    .select(["provider", "custom_provider"])
    .where("tenant_id", "=", tenantId)
    .where("custom_provider", "is not", null)
    .orderBy("provider")
    .execute();
  return rows.map((r) => ({ provider: r.provider, custom_provider: r.custom_provider! }));
}

export interface OAuthAppWrite {
  id: string;
  provider: string;
  clientId: string;
  sealedSecret: Uint8Array | null;
  scopes: string[];
  shared: boolean;
  customProvider: CustomProviderColumn | null;
  version: number;
  actor: string;
}

/** Inserts version 1 or replaces the row (the caller holds it locked). */
export async function writeOAuthApp(tx: Tx, tenantId: string, w: OAuthAppWrite): Promise<OAuthAppRow> {
  const values = {
    client_id: w.clientId,
    sealed_secret: w.sealedSecret,
    scopes: w.scopes,
    shared: w.shared,
    custom_provider: w.customProvider ? JSON.stringify(w.customProvider) : null,
    version: w.version,
    updated_by: w.actor,
  };
  if (w.version > 1) {
    return tx
      .updateTable("oauth_apps")
      .set({ ...values, updated_at: sql`now()` })
      .where("tenant_id", "=", tenantId)
      .where("id", "=", w.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  return tx
    .insertInto("oauth_apps")
    .values({ tenant_id: tenantId, id: w.id, provider: w.provider, created_by: w.actor, ...values })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteOAuthApp(tx: Tx, tenantId: string, provider: string): Promise<boolean> {
  const r = await tx
    .deleteFrom("oauth_apps")
    .where("tenant_id", "=", tenantId)
    .where("provider", "=", provider)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
