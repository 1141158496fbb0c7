import type { Kysely } from "kysely";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import type { Logger } from "../log.js";
import { credentialChanges, tenantRevision } from "../store/credentials.js";
import type { Database } from "../store/schema.js";
import { withTenant } from "../tenancy/with-tenant.js";
import { decodeChanges, markerEvent, type SyncEvent } from "./sync-events.js";

export interface CatchUp {
  /** RESET (if any), then the changes, in revision order. */
  events: SyncEvent[];
  /** The tenant revision the runtime is at after applying them. */
  revision: number;
}

/**
 * Brings a runtime of `project` from `since` to now with one indexed range
 * query: the changes after `since`, or, when `since` is 0, ahead of the
 * server, or older than what the server retains, a RESET and the live
 * snapshot. Runs at REPEATABLE READ so the rows and the revision it reports
 * are one consistent picture. A credential that cannot be decrypted is left
 * out and logged (see decodeChanges): the rest of the project still arrives.
 */
export async function readCatchUp(
  db: Kysely<Database>,
  keys: TenantKeys,
  tenantId: string,
  project: string,
  since: number,
  log: Logger,
): Promise<CatchUp> {
  return withTenant(
    db,
    tenantId,
    async (tx) => {
      const { revision, retainedFrom } = await tenantRevision(tx, tenantId);
      const resetReason = since === 0 ? "INITIAL" : since < retainedFrom || since > revision ? "EXPIRED" : undefined;
      const rows = await credentialChanges(tx, tenantId, project, resetReason ? undefined : since);
      const dataKey = rows.length > 0 ? await keys.dataKey(tx, tenantId) : Buffer.alloc(0);
      const events = decodeChanges(rows, dataKey, log);
      if (resetReason) events.unshift(markerEvent("reset", revision, resetReason));
      return { events, revision };
    },
    { isolation: "repeatable read" },
  );
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
