import type { Kysely } from "kysely";
import type { Database } from "../store/schema.js";
import { findTenant, type TenantRow } from "../store/tenants.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import { createFeedCache } from "../feed/feed-cache.js";

export interface TenantDirectory {
  /** A tenant by id or slug, as of the last change announced. */
  find(idOrSlug: string): Promise<TenantRow | undefined>;
  close(): void;
}

/**
 * Platform administrators name tenants on many calls; this keeps those
 * look-ups off the database. A name that matched no tenant is dropped on any
 * tenant change (it may have been created); a tenant on changes to it.
 */
export function createTenantDirectory(db: Kysely<Database>, feed: ChangeFeed): TenantDirectory {
  const cache = createFeedCache<TenantRow>({
    feed,
    load: (idOrSlug) => findTenant(db, idOrSlug),
    relevant: (e) => e.type === "tenant",
    affects: (e, _key, tenant) => e.type === "tenant" && (!tenant || tenant.id === e.tenantId),
    maxEntries: 10_000,
  });
  return { find: (idOrSlug) => cache.get(idOrSlug), close: cache.close };
}
