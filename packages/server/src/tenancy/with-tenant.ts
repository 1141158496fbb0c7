import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../store/schema.js";

/** The non-owner role that row-level security confines; created by migration 1. */
export const APP_ROLE = "engine_app";

/**
 * The only way services touch tenant tables. The transaction runs as the
 * application role with `engine.tenant_id` set for its duration only
 * (set_config(..., true) is SET LOCAL), so even a query that forgets its
 * tenant filter sees no other tenant's rows: row-level security is the
 * defence in depth behind every explicit `where tenant_id = …`.
 */
export function withTenant<T>(
  db: Kysely<Database>,
  tenantId: string,
  fn: (tx: Transaction<Database>) => Promise<T>,
  options: {
    isolation?: "read committed" | "repeatable read" | "serializable";
    /**
     * The call's signal (the handler context's): once the caller has gone, the
     * transaction rolls back instead of committing a write nobody was told of.
     */
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const { signal } = options;
  signal?.throwIfAborted();
  const builder = options.isolation ? db.transaction().setIsolationLevel(options.isolation) : db.transaction();
  return builder.execute(async (tx) => {
    await enterTenant(tx, tenantId);
    const result = await fn(tx);
    // Checked as late as possible: a database that stalled the statements above
    // may answer long after the caller gave up; throwing here rolls back.
    signal?.throwIfAborted();
    return result;
  });
}

/**
 * Confines the rest of a transaction to one tenant, as withTenant does from
 * its start. For the one transaction that must first read across tenants on
 * the owner connection (accepting an invitation: the code names the tenant)
 * and then write inside it, with the locks it took still held.
 */
export async function enterTenant(tx: Transaction<Database>, tenantId: string): Promise<void> {
  await sql`SELECT set_config('role', ${APP_ROLE}, true), set_config('engine.tenant_id', ${tenantId}, true)`.execute(tx);
}
