import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { purgeTombstones, tenantsWithTombstones } from "../store/change-log.js";
import type { Database } from "../store/schema.js";
import { enterTenant } from "../store/with-tenant.js";
import { startLeasedJob, type LeasedJobContext } from "./leased-job.js";

/** Tenants purged per sweep; the rest wait for the next one. */
const TENANTS_PER_SWEEP = 1_000;

export interface TombstonePurge {
  /** One sweep now, if this process holds the purge's lease; resolves to the tombstones purged. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A delete (of a credential, or a project's policy record) leaves a tombstone
 * in the change log (store/change-log.ts) so runtimes learn of it;
 * kept forever, tombstones would grow every tenant's catch-up without bound.
 * Once older than the retention period they are purged, and a runtime that
 * was away for longer resumes with a RESET and a full snapshot instead of the
 * deletes it missed (sync/catch-up.ts). One process sweeps at a time, under
 * the job's lease (jobs/leased-job.ts); each tenant's purge commits under that
 * lease and the tenant's revision lock, confined to the tenant like withTenant.
 */
export function startTombstonePurge(opts: {
  db: Kysely<Database>;
  retentionMs: number;
  leaseMs: number;
  holder: string;
  log: Logger;
}): TombstonePurge {
  const sweepOnce = async (ctx: LeasedJobContext) => {
    const before = new Date(Date.now() - opts.retentionMs);
    let purged = 0;
    for (const tenantId of await tenantsWithTombstones(opts.db, before, TENANTS_PER_SWEEP)) {
      if (ctx.signal.aborted) break;
      purged += await ctx.commitUnderLease(async (tx) => {
        await enterTenant(tx, tenantId);
        return purgeTombstones(tx, tenantId, before);
      });
    }
    if (purged > 0) {
      const fields = { count: purged, retention_ms: opts.retentionMs, generation: ctx.generation };
      opts.log.info("purged credential tombstones", fields);
    }
    return purged;
  };
  const job = startLeasedJob({
    db: opts.db,
    name: "tombstone-purge",
    holder: opts.holder,
    // A quarter of the retention, between a second and an hour: a tombstone outlives it by at most that.
    intervalMs: Math.min(3_600_000, Math.max(1_000, opts.retentionMs / 4)),
    leaseMs: opts.leaseMs,
    log: opts.log,
    run: sweepOnce,
  });
  return {
    sweep: async () => (await job.runNow()) ?? 0,
    close: () => job.close(),
  };
}
