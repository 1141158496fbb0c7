import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { purgeTombstones, tenantsWithTombstones } from "../store/credentials.js";
import type { Database } from "../store/schema.js";
import { withTenant } from "../tenancy/with-tenant.js";

/** Tenants purged per sweep; the rest wait for the next one. */
const TENANTS_PER_SWEEP = 1_000;

export interface TombstonePurge {
  /** One sweep now; resolves to the tombstones purged. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A deleted credential leaves a tombstone so runtimes learn of the delete;
 * kept forever, tombstones would grow every tenant's catch-up without bound.
 * Once older than the retention period they are purged, and a runtime that
 * was away for longer resumes with a RESET and a full snapshot instead of the
 * deletes it missed (sync/catch-up.ts). Every server process sweeps; the
 * purge is idempotent, and each tenant's runs under its revision lock.
 */
export function startTombstonePurge(opts: { db: Kysely<Database>; retentionMs: number; log: Logger }): TombstonePurge {
  let running: Promise<number> | undefined;
  const sweepOnce = async () => {
    const before = new Date(Date.now() - opts.retentionMs);
    let purged = 0;
    for (const tenantId of await tenantsWithTombstones(opts.db, before, TENANTS_PER_SWEEP)) {
      purged += await withTenant(opts.db, tenantId, (tx) => purgeTombstones(tx, tenantId, before));
    }
    if (purged > 0) opts.log.info("purged credential tombstones", { count: purged, retention_ms: opts.retentionMs });
    return purged;
  };
  const sweep = () =>
    (running ??= sweepOnce()
      .catch((err) => {
        opts.log.warn("could not purge credential tombstones; will retry", { err: String(err) });
        return 0;
      })
      .finally(() => (running = undefined)));
  // A quarter of the retention, between a second and an hour: a tombstone outlives it by at most that.
  const timer = setInterval(sweep, Math.min(3_600_000, Math.max(1_000, opts.retentionMs / 4)));
  timer.unref();
  return {
    sweep,
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
