import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { purgeExpiredOAuthFlows } from "../store/connection-refresh.js";
import type { Database } from "../store/schema.js";
import { startLeasedJob } from "./leased-job.js";

/** Flows removed per sweep; the rest wait for the next one. */
const FLOWS_PER_SWEEP = 10_000;

export interface OAuthFlowPurge {
  /** One sweep now, if this process holds the purge's lease; resolves to the flows removed. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A connect flow is worth keeping until its 10 minutes are up, and a little
 * after (GetConnectFlow tells a waiting CLI how it ended); past the
 * retention it is removed, finished or not, by the oauth_flows_expiry index.
 * One process sweeps at a time, under the job's lease (jobs/leased-job.ts).
 */
export function startOAuthFlowPurge(opts: {
  db: Kysely<Database>;
  retentionMs: number;
  leaseMs: number;
  holder: string;
  log: Logger;
}): OAuthFlowPurge {
  const job = startLeasedJob({
    db: opts.db,
    name: "oauth-flow-purge",
    holder: opts.holder,
    intervalMs: Math.min(3_600_000, Math.max(1_000, opts.retentionMs / 4)),
    leaseMs: opts.leaseMs,
    log: opts.log,
    run: async (ctx) => {
      const purged = await ctx.commitUnderLease((tx) => purgeExpiredOAuthFlows(tx, opts.retentionMs, FLOWS_PER_SWEEP));
      if (purged > 0) opts.log.info("purged connect flows", { count: purged, generation: ctx.generation });
      return purged;
    },
  });
  return { sweep: async () => (await job.runNow()) ?? 0, close: () => job.close() };
}
