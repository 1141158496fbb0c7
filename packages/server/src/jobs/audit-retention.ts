import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { purgeAuditEvents } from "../store/audit-log.js";
import type { Database } from "../store/schema.js";
import { startLeasedJob } from "./leased-job.js";

/**
 * Keeps the audit log to the deployment's retention (ENGINE_CLOUD_AUDIT_RETENTION_DAYS;
 * 0, the default, keeps everything): one process at a time, under the job's
 * lease, cuts each chain at its newest checkpoint older than the retention
 * (store/audit-log.ts purgeAuditEvents), so the rest still verifies.
 */
export function startAuditRetention(opts: {
  db: Kysely<Database>;
  retentionMs: number;
  leaseMs: number;
  holder: string;
  log: Logger;
}): { close(): Promise<void> } {
  const job = startLeasedJob({
    db: opts.db,
    name: "audit-retention",
    holder: opts.holder,
    intervalMs: Math.min(3_600_000, Math.max(1_000, opts.retentionMs / 24)),
    leaseMs: opts.leaseMs,
    log: opts.log,
    run: async (ctx) => {
      const removed = await ctx.commitUnderLease((tx) => purgeAuditEvents(tx, new Date(Date.now() - opts.retentionMs)));
      if (removed > 0) opts.log.info("purged audit events past retention", { count: removed, retention_ms: opts.retentionMs });
      return removed;
    },
  });
  return { close: () => job.close() };
}
