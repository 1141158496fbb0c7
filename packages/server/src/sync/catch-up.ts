import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { tenantRevision } from "../store/tenant-revisions.js";
import type { Database } from "../store/schema.js";
import { systemScope, withTenant, type TxOrigin } from "../store/with-tenant.js";
import type { CredentialVault } from "../vault/credentials.js";
import { changesSince } from "./resource-changes.js";
import { changeEvent, markerEvent, type SyncEvent, type SyncView } from "./sync-events.js";

export interface CatchUp {
  /** RESET (if any), then the changes, in revision order. */
  events: SyncEvent[];
  /** The tenant revision the runtime is at after applying them. */
  revision: number;
}

/**
 * Brings a runtime of `view.project` from `since` to now with one indexed
 * range query of the change log, for the kinds the view names: the changes
 * after `since`, or, when `since` is 0, ahead of the server, or older than
 * what the server retains, a RESET and the live snapshot. Runs at REPEATABLE
 * READ so the entries, the rows and the revision it reports are one
 * consistent picture. A credential that cannot be decrypted is left out and
 * logged (see changesSince): the rest of the project still arrives.
 */
export async function readCatchUp(
  db: Kysely<Database>,
  vault: Pick<CredentialVault, "changed">,
  tenantId: string,
  view: SyncView,
  since: number,
  log: Logger,
  /**
   * The caller, when the catch-up is a request's own (Pull): its read is then
   * one "sync.catch_up" event, committed (a read's event, AuditSeat.recordRead)
   * before the events are returned, so the secrets leave only with their event
   * committed. Without it the read is the system's.
   */
  origin?: TxOrigin,
): Promise<CatchUp> {
  const scope = origin ? { tenantId, ...origin } : systemScope(tenantId, "system:sync");
  return withTenant(
    db,
    scope,
    async (t) => {
      const { revision, retainedFrom } = await tenantRevision(t.tx, tenantId);
      const resetReason = since === 0 ? "INITIAL" : since < retainedFrom || since > revision ? "EXPIRED" : undefined;
      const range = { kinds: [...view.kinds], visibleTo: view.project };
      const { changes } = await changesSince(t, vault, resetReason ? undefined : since, range, log);
      const events = changes.map(changeEvent).filter((e) => e.visibleTo(view));
      if (resetReason) events.unshift(markerEvent("reset", revision, resetReason));
      // The caller's read is one "sync.catch_up" event, committed before anything leaves: a read's event, written
      // after this repeatable-read transaction (appending inside it failed whenever another audited write of the
      // tenant committed meanwhile), in a group commit with the tenant's other reads.
      if (origin) {
        t.audit.recordRead({
          action: "sync.catch_up",
          target: `project:${view.project}`,
          detail: { from_revision: since, to_revision: revision, changes: changes.length, reset: resetReason ?? "" },
        });
      }
      return { events, revision };
    },
    { isolation: "repeatable read" },
  );
}
