import type { Transaction } from "kysely";
import type { Database, Tx } from "./schema.js";

/** A tenant's data key as stored: wrapped (sealed) by root key `rootKeyId`. */
export interface WrappedTenantKey {
  wrappedKey: Uint8Array;
  rootKeyId: string;
}

export async function findTenantKey(
  tx: Tx,
  tenantId: string,
  opts: { lock?: boolean } = {},
): Promise<WrappedTenantKey | undefined> {
  let q = tx.selectFrom("tenant_keys").select(["wrapped_key", "root_key_id"]).where("tenant_id", "=", tenantId);
  if (opts.lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row && { wrappedKey: row.wrapped_key, rootKeyId: row.root_key_id };
}

/** Stores a first key unless one exists; returns the key that is the tenant's (a concurrent first writer may have won). */
export async function insertTenantKeyIfAbsent(tx: Tx, tenantId: string, key: WrappedTenantKey): Promise<WrappedTenantKey> {
  await tx
    .insertInto("tenant_keys")
    .values({ tenant_id: tenantId, wrapped_key: key.wrappedKey, root_key_id: key.rootKeyId })
    .onConflict((oc) => oc.column("tenant_id").doNothing())
    .execute();
  const row = await findTenantKey(tx, tenantId);
  if (!row) throw new Error(`tenant ${tenantId}'s data key vanished while it was being created`);
  return row;
}

export async function rewrapTenantKey(tx: Tx, tenantId: string, key: WrappedTenantKey): Promise<void> {
  await tx
    .updateTable("tenant_keys")
    .set({ wrapped_key: key.wrappedKey, root_key_id: key.rootKeyId, rewrapped_at: new Date() })
    .where("tenant_id", "=", tenantId)
    .execute();
}

export async function deleteTenantKey(tx: Tx, tenantId: string): Promise<void> {
  await tx.deleteFrom("tenant_keys").where("tenant_id", "=", tenantId).execute();
}
