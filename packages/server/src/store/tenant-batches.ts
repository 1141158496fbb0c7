import type { Kysely } from "kysely";
import type { SystemJob } from "./actor.js";
import type { Database } from "./schema.js";
import { systemScope, withTenant, type TenantTx } from "./with-tenant.js";

/** Works of one tenant run in one transaction at most, by default: a long batch holds the tenant's revision row longer. */
const MAX_BATCH = 64;

interface Queued {
  work: (t: TenantTx) => Promise<unknown>;
  settle(outcome: { ok: true; value: unknown } | { ok: false; err: unknown }): void;
}

export interface TenantBatches {
  /**
   * Runs `work` in a system transaction of the tenant shared with the works
   * queued beside it; resolves with its value once that transaction
   * committed. If a work of the batch throws, nothing of the batch is kept:
   * that work rejects with its own error, the others with `BatchAborted` (a
   * caller that retries should retry alone, `alone`, so one bad work cannot
   * sink its neighbours twice). If the transaction itself fails (its audit
   * records refused, the commit), every work rejects with that error.
   */
  run<T>(tenantId: string, work: (t: TenantTx) => Promise<T>): Promise<T>;
  /** The same work in a transaction of its own. */
  alone<T>(tenantId: string, work: (t: TenantTx) => Promise<T>): Promise<T>;
  /** Resolves once everything queued so far has committed or failed. */
  drain(): Promise<void>;
}

/** A work of a batch that another work of it made fail: nothing of it was kept; it may be run again. */
export class BatchAborted extends Error {
  constructor(override readonly cause: unknown) {
    super("the batch this work ran in was rolled back");
  }
}

/**
 * Group commit for a tenant's system writes. Every write that changes what
 * runtimes receive takes the tenant's next revision and holds its row until
 * commit (the order runtimes see), so a tenant's commits are serial: one at
 * a time, each waiting for its flush. Works queued while one of the tenant's
 * batches commits go into its next transaction together — one revision lock,
 * one flush, for as many as arrived — and run there one after the other, in
 * the order they came. Different tenants' batches run side by side.
 *
 * Each work is what it would be in a transaction of its own (it locks and
 * fences its own rows); what they share is the transaction's fate. A work's
 * after-commit hooks run once the batch committed, never for a batch that
 * was rolled back (with-tenant.ts).
 */
export function createTenantBatches(
  db: Kysely<Database>,
  job: SystemJob,
  { maxBatch = MAX_BATCH }: { maxBatch?: number } = {},
): TenantBatches {
  const queues = new Map<string, Queued[]>();
  const running = new Set<Promise<void>>();
  const inTenant = <T>(tenantId: string, fn: (t: TenantTx) => Promise<T>) => withTenant(db, systemScope(tenantId, job), fn);

  const drainTenant = async (tenantId: string, queue: Queued[]) => {
    // What one turn of the event loop queued joins the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      const values: unknown[] = [];
      let failed: { index: number; err: unknown } | undefined;
      try {
        await inTenant(tenantId, async (t) => {
          for (const [index, q] of batch.entries()) {
            try {
              values.push(await q.work(t));
            } catch (err) {
              failed = { index, err };
              throw err;
            }
          }
        });
        for (const [i, q] of batch.entries()) q.settle({ ok: true, value: values[i] });
      } catch (err) {
        for (const [i, q] of batch.entries())
          q.settle({ ok: false, err: !failed ? err : i === failed.index ? failed.err : new BatchAborted(err) });
      }
    }
    queues.delete(tenantId);
  };

  return {
    run<T>(tenantId: string, work: (t: TenantTx) => Promise<T>): Promise<T> {
      let queue = queues.get(tenantId);
      const start = !queue;
      if (!queue) queues.set(tenantId, (queue = []));
      const done = new Promise<T>((resolve, reject) =>
        queue.push({ work, settle: (o) => (o.ok ? resolve(o.value as T) : reject(o.err)) }),
      );
      if (start) {
        const drained = drainTenant(tenantId, queue);
        running.add(drained);
        void drained.finally(() => running.delete(drained));
      }
      return done;
    },
    alone: inTenant,
    async drain() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
