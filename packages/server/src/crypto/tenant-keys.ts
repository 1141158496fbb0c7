import { randomBytes } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../store/schema.js";
import { deleteTenantKey, findTenantKey, insertTenantKeyIfAbsent, rewrapTenantKey } from "../store/tenant-keys.js";
import { listTenantKeyOwners } from "../store/tenants.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import { withTenant, type TxOrigin } from "../store/with-tenant.js";
import { open, seal } from "./aead.js";
import type { RootKeyRing } from "./root-keys.js";

export interface TenantKeys {
  /** The tenant's data key, created on first use; unwrapped keys stay in memory only. */
  dataKey(tx: Transaction<Database>, tenantId: string): Promise<Buffer>;
  /** Re-wraps every tenant data key under the current root key; the credentials are untouched. */
  rotateRoot(origin: TxOrigin): Promise<{ rewrapped: number; unchanged: number }>;
  /** Crypto-shredding: the wrapped key is deleted, so the tenant's sealed secrets are gone for good. */
  destroy(tx: Transaction<Database>, tenantId: string): Promise<void>;
  readonly rootKeyId: string;
}

const wrapAad = (tenantId: string) => `engine-tenant-key\0${tenantId}`;

/**
 * Envelope encryption: credentials are sealed under a per-tenant data key, and
 * the data key is stored only wrapped by the root key, which never touches the
 * database. Rotating the root key re-wraps a few hundred bytes per tenant
 * instead of re-encrypting every credential.
 */
export function createTenantKeys(db: Kysely<Database>, ring: RootKeyRing, feed: ChangeFeed): TenantKeys {
  const cache = new Map<string, Buffer>();
  feed.subscribe((e) => {
    if (e.type === "tenant") cache.delete(e.tenantId);
  });

  const unwrap = (tenantId: string, wrapped: Uint8Array, rootKeyId: string): Buffer => {
    const root = ring.find(rootKeyId);
    if (!root) {
      throw new Error(
        `tenant ${tenantId}'s data key is wrapped by root key ${rootKeyId}, which this server does not hold; ` +
          "add it to ENGINE_CLOUD_PREVIOUS_MASTER_KEYS",
      );
    }
    return open(root.key, wrapped, wrapAad(tenantId));
  };

  return {
    rootKeyId: ring.current.id,
    async dataKey(tx, tenantId) {
      const hit = cache.get(tenantId);
      if (hit) return hit;
      const row =
        (await findTenantKey(tx, tenantId)) ??
        (await insertTenantKeyIfAbsent(tx, tenantId, {
          wrappedKey: seal(ring.current.key, randomBytes(32), wrapAad(tenantId)),
          rootKeyId: ring.current.id,
        }));
      const key = unwrap(tenantId, row.wrappedKey, row.rootKeyId);
      cache.set(tenantId, key);
      return key;
    },
    async rotateRoot(origin) {
      let rewrapped = 0;
      let unchanged = 0;
      // One short transaction per tenant: servers keep serving throughout.
      for (const tenantId of await listTenantKeyOwners(db)) {
        const changed = await withTenant(db, { tenantId, ...origin }, async ({ tx, audit }) => {
          const row = await findTenantKey(tx, tenantId, { lock: true });
          if (!row || row.rootKeyId === ring.current.id) return false;
          audit.record({
            action: "key.rotate_root",
            target: `tenant_key:${tenantId}`,
            detail: { from_root_key: row.rootKeyId, to_root_key: ring.current.id },
          });
          const key = unwrap(tenantId, row.wrappedKey, row.rootKeyId);
          await rewrapTenantKey(tx, tenantId, {
            wrappedKey: seal(ring.current.key, key, wrapAad(tenantId)),
            rootKeyId: ring.current.id,
          });
          return true;
        });
        if (changed) rewrapped++;
        else unchanged++;
      }
      return { rewrapped, unchanged };
    },
    async destroy(tx, tenantId) {
      await deleteTenantKey(tx, tenantId);
      cache.delete(tenantId);
    },
  };
}
