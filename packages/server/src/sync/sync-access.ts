import type { Kysely } from "kysely";
import type { Caller } from "../auth/caller.js";
import { getProject } from "../store/projects.js";
import type { Database } from "../store/schema.js";
import { requireProjectAllowed } from "../tenancy/project-policy.js";
import type { TenantRef } from "../tenancy/request-context.js";
import { withTenant } from "../tenancy/with-tenant.js";
import { shareReadsPerTurn } from "./share-reads-per-turn.js";

/** Throws unless the caller may sync `project`. */
export type SyncAccessCheck = (scope: { caller: Caller; tenant: TenantRef }, project: string) => Promise<void>;

/**
 * Sync obeys the tenant's project policy for every caller: unknown and denied
 * projects are refused, as are projects outside the token's scope. Both Watch
 * paths (services/sync-service.ts and transport/sync-fast-path.ts) and Pull
 * run this check after the RPC's access rule has passed. Streams of one
 * project arriving together (a reconnect storm) share one policy read.
 */
export function createSyncAccessCheck(db: Kysely<Database>): SyncAccessCheck {
  const policyOf = shareReadsPerTurn(
    (tenantId: string, project: string) => `${tenantId}\0${project}`,
    (tenantId: string, project: string) => withTenant(db, tenantId, (tx) => getProject(tx, tenantId, project)),
  );
  return async (scope, project) => {
    requireProjectAllowed(project, await policyOf(scope.tenant.id, project), scope.caller.projects);
  };
}
