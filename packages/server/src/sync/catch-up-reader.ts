import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import type { Database } from "../store/schema.js";
import type { CredentialVault } from "../vault/credentials.js";
import { readCatchUp, type CatchUp } from "./catch-up.js";
import { shareReadsPerTurn } from "./share-reads-per-turn.js";
import type { SyncView } from "./sync-events.js";

/** Reads the catch-up of a stream (see readCatchUp), sharing reads between streams that ask alike. */
export type CatchUpReader = (tenantId: string, view: SyncView, since: number) => Promise<CatchUp>;

/**
 * Streams that ask for the same catch-up (tenant, project, kinds, revision)
 * in one turn of the event loop share one range query, one decryption and
 * one encoding of its events: after a server restart, thousands of runtimes
 * of a project reconnect from the same revision at once.
 *
 * Sound because every stream registers with the hub before it asks: the
 * shared read starts after all of its streams registered, so any change its
 * snapshot misses reaches each of them live.
 */
export function createCatchUpReader(db: Kysely<Database>, vault: Pick<CredentialVault, "changed">, log: Logger): CatchUpReader {
  return shareReadsPerTurn(
    (tenantId, view, since) => `${tenantId}\0${view.project}\0${view.key}\0${since}`,
    async (tenantId: string, view: SyncView, since: number) => {
      const result = await readCatchUp(db, vault, tenantId, view, since, log);
      // One line per range query, at debug level: what the reconnect benchmark counts.
      log.debug("sync catch-up", {
        tenant: tenantId,
        project: view.project,
        since,
        revision: result.revision,
        events: result.events.length,
      });
      return result;
    },
  );
}
