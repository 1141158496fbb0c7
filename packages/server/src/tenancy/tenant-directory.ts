import type { Kysely } from "kysely";
import type { Database } from "../store/schema.js";
import { findTenant, type TenantRow } from "../store/tenants.js";
import type { ChangeFeed } from "../sync/change-feed.js";

export interface TenantDirectory {
  /** A tenant by id or slug, as of the last change announced. */
  find(idOrSlug: string): Promise<TenantRow | undefined>;
  close(): void;
}

/**
 * Platform administrators name tenants on many calls; this keeps those
 * look-ups off the database. Entries are dropped on every tenant change and
 * whenever the change feed may have missed one.
 */
export function createTenantDirectory(db: Kysely<Database>, feed: ChangeFeed): TenantDirectory {
  const byKey = new Map<string, TenantRow>();
  let cacheEnabled = true;
  const unsubscribe = feed.subscribe((e) => {
    if (e.type === "tenant") {
      for (const [k, t] of byKey) if (t.id === e.tenantId) byKey.delete(k);
    } else if (e.type === "reset") {
      byKey.clear();
      cacheEnabled = e.connected;
    }
  });
  return {
    async find(idOrSlug) {
      const hit = byKey.get(idOrSlug);
      if (hit) return hit;
      const row = await findTenant(db, idOrSlug);
      if (row && cacheEnabled && byKey.size < 10_000) byKey.set(idOrSlug, row);
      return row;
    },
    close: unsubscribe,
  };
}
