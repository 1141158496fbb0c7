import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import { systemScope, withTenant, type AuditRecord } from "./with-tenant.js";
import type { SystemJob } from "./actor.js";

/** Records of one chain written in one transaction at most: a long batch holds the chain's head lock longer. */
const MAX_BATCH = 500;

interface Waiting {
  record: AuditRecord;
  done(err?: unknown): void;
}

interface ChainQueue {
  waiting: Waiting[];
  draining: boolean;
}

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
 * on the chain's head lock anyway), different tenants' side by side.
 */
export function createAuditBatches(db: Kysely<Database>, job: SystemJob): AuditBatches {
  const chains = new Map<string, ChainQueue>();
  const running = new Set<Promise<void>>();

  const drainChain = async (tenantId: string, q: ChainQueue) => {
    // One turn's records join the first batch: every stream a heartbeat reached, or a shared catch-up served.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (q.waiting.length > 0) {
      const batch = q.waiting.splice(0, MAX_BATCH);
      try {
        await withTenant(db, systemScope(tenantId, job), async (t) => {
          for (const w of batch) t.audit.record(w.record);
        });
        for (const w of batch) w.done();
      } catch (err) {
        for (const w of batch) w.done(err);
      }
    }
    q.draining = false;
    if (q.waiting.length === 0) chains.delete(tenantId);
  };

  return {
    record(tenantId, record) {
      const q = chains.get(tenantId) ?? { waiting: [], draining: false };
      chains.set(tenantId, q);
      const written = new Promise<void>((resolve, reject) =>
        q.waiting.push({ record, done: (err) => (err === undefined ? resolve() : reject(err)) }),
      );
      if (!q.draining) {
        q.draining = true;
        const run = drainChain(tenantId, q);
        running.add(run);
        void run.finally(() => running.delete(run));
      }
      return written;
    },
    async drain() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
