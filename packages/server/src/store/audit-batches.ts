import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { SystemJob } from "./actor.js";
import { createTenantBatches } from "./tenant-batches.js";
import type { AuditRecord } from "./with-tenant.js";

/** Records of one chain written in one transaction at most: a long batch holds the chain's head lock longer. */
const MAX_BATCH = 500;

export interface AuditBatches {
  /**
   * Queues a record (its own actor and request set) for the tenant's chain; resolves once it committed, rejects
   * with the audit writer's error (AUDIT_UNAVAILABLE, or the database's own UNAVAILABLE) when its batch failed.
   */
  record(tenantId: string, record: AuditRecord): Promise<void>;
  /** Resolves once everything queued so far is written or has failed. */
  drain(): Promise<void>;
}

/**
 * Writes the audit events of many callers of one tenant in few transactions:
 * what is queued while a tenant's batch commits goes into its next one, so
 * 5,000 streams' heartbeats cost a handful of transactions, not 5,000. Each
 * batch is one system transaction (actor `job`) whose records name their own
 * actor and request; one tenant's batches run one at a time (they would queue
 * on the chain's head lock anyway), different tenants' side by side — the
 * tenant's group commit (tenant-batches.ts), whose works only record.
 */
export function createAuditBatches(db: Kysely<Database>, job: SystemJob): AuditBatches {
  const batches = createTenantBatches(db, job, { maxBatch: MAX_BATCH });
  return {
    // A work that only records cannot throw: a failed batch is the audit writer's (or the commit's) error, for all.
    record: (tenantId, record) => batches.run(tenantId, async (t) => t.audit.record(record)),
    drain: () => batches.drain(),
  };
}
