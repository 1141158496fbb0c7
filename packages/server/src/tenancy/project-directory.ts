import type { Kysely, Transaction } from "kysely";
import { getProject, type ProjectRow } from "../store/projects.js";
import type { Database } from "../store/schema.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import { createFeedCache } from "../feed/feed-cache.js";
import { systemScope, withTenant } from "../store/with-tenant.js";

export interface ProjectDirectory {
  /**
   * The tenant's policy row for `name` (undefined: unknown), as of the last
   * change announced. Inside a tenant transaction, pass it: a miss reads through it.
   */
  find(tenantId: string, name: string, tx?: Transaction<Database>): Promise<ProjectRow | undefined>;
  close(): void;
}

const SEPARATOR = "\0"; // cannot occur in a tenant id (a UUID)

/**
 * The project policy, read on every runtime's credential read, sync check and
 * `GetProject`, and changed by an administrator now and then: kept in memory,
 * read through the tenant's own transaction (row-level security applies), and
 * dropped when the change feed announces a change to the project. Policy
 * changes are published confirmed (services/project-service.ts), so a denial
 * holds on the next request to any server process.
 */
export function createProjectDirectory(db: Kysely<Database>, feed: ChangeFeed): ProjectDirectory {
  const cache = createFeedCache<ProjectRow>({
    feed,
    load: (key) => {
      const at = key.indexOf(SEPARATOR);
      const tenantId = key.slice(0, at);
      const name = key.slice(at + 1);
      return withTenant(db, systemScope(tenantId, "system:project-policy"), ({ tx }) => getProject(tx, tenantId, name));
    },
    relevant: (e) => e.type === "project" || e.type === "tenant",
    affects: (e, key) =>
      e.type === "project"
        ? key === e.tenantId + SEPARATOR + e.name
        : e.type === "tenant" && key.startsWith(e.tenantId + SEPARATOR),
    maxEntries: 100_000,
  });
  return {
    find: (tenantId, name, tx) => cache.get(tenantId + SEPARATOR + name, tx && (() => getProject(tx, tenantId, name))),
    close: cache.close,
  };
}
