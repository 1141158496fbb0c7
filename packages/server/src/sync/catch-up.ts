import type { Kysely } from "kysely";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import type { Logger } from "../log.js";
import { credentialChanges } from "../store/credentials.js";
import { tenantRevision } from "../store/tenant-revisions.js";
import type { Database } from "../store/schema.js";
import { systemScope, withTenant } from "../store/with-tenant.js";
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
    systemScope(tenantId, "system:sync"),
    async ({ tx }) => {
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
