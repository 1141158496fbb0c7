import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { purgeOfflinePresence } from "../store/runtime-presence.js";
import type { Database } from "../store/schema.js";
import { startLeasedJob } from "./leased-job.js";

export interface PresencePurge {
  /** One sweep now, if this process holds the purge's lease; resolves to the rows purged. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Every Watch stream leaves a presence row (store/runtime-presence.ts); kept
 * forever, reconnecting runtimes would grow the table without bound. Rows
 * offline for longer than the retention are deleted, by one process at a time
 * under the job's lease (jobs/leased-job.ts), in one statement across tenants:
 * the rows are the server's own bookkeeping, written on the owner connection.
 */
export function startPresencePurge(opts: {
  db: Kysely<Database>;
  retentionMs: number;
  leaseMs: number;
  holder: string;
  log: Logger;
}): PresencePurge {
  const job = startLeasedJob({
    db: opts.db,
    name: "presence-purge",
    holder: opts.holder,
    // A quarter of the retention, between a second and an hour, as for tombstones.
    intervalMs: Math.min(3_600_000, Math.max(1_000, opts.retentionMs / 4)),
    leaseMs: opts.leaseMs,
    log: opts.log,
    run: async (ctx) => {
      const purged = await ctx.commitUnderLease((tx) => purgeOfflinePresence(tx, opts.retentionMs));
      if (purged > 0) opts.log.info("purged offline runtime presence", { count: purged, retention_ms: opts.retentionMs });
      return purged;
    },
  });
  return {
    sweep: async () => (await job.runNow()) ?? 0,
    close: () => job.close(),
  };
}
