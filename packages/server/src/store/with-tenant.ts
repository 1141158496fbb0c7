import { sql, type Kysely, type Transaction } from "kysely";
import type { Actor, RequestMeta, SystemJob } from "./actor.js";
import type { Database } from "./schema.js";

/** The non-owner role that row-level security confines; created by migration 1. */
export const APP_ROLE = "engine_app";

/** Who a transaction works for: the actor, and the request when it came from one. */
export interface TxOrigin {
  actor: Actor;
  request?: RequestMeta;
  /**
   * The request's signal, when the work is a request's: once the caller has
   * gone, the transaction rolls back instead of committing a write nobody was
   * told of (TxOptions.signal, when given, wins).
   */
  signal?: AbortSignal;
}

/** A tenant transaction's scope: its tenant and its origin. */
export interface TenantScope extends TxOrigin {
  tenantId: string;
}

/** Work the server does on its own in a tenant (catch-up reads, caches, jobs): the system, under a named job. */
export function systemScope(tenantId: string, job: SystemJob): TenantScope {
  return { tenantId, actor: { kind: "system", job } };
}

/**
 * An audit event as a writer hands it over: what happened, to what. The
 * actor, tenant and request come from the transaction. Never a secret value:
 * ids, names and versions only (the change feed's rule).
 */
export interface AuditRecord {
  /** "credential.put", "user.disable", … */
  action: string;
  /** "credential:<id>", "user:<id>", … */
  target: string;
  detail?: Record<string, string | number | boolean>;
  /** "ok" (the default), or the wire name of the reason a failed call that still commits failed with. */
  outcome?: string;
  /**
   * The chain the event joins when it is not the transaction's: a platform
   * transaction that entered a tenant (accepting an invitation) records in
   * that tenant's chain. Default: the tenant's chain in withTenant, the
   * platform chain in withPlatform.
   */
  tenantId?: string;
  /**
   * Who acted and through which request, when not the transaction's: one
   * system transaction that writes the events of many callers at once (the
   * Watch streams' deliveries, sync/delivery-audit.ts) names each one's own.
   */
  actor?: Actor;
  request?: RequestMeta;
}

/**
 * The seat for audit events: records made in the transaction are handed to
 * the audit writer just before commit, in the same transaction, so an
 * audited change and its event commit together or not at all.
 */
export interface AuditSeat {
  record(event: AuditRecord): void;
  readonly pending: readonly AuditRecord[];
  /**
   * A read's event (a secret handed out, the log read): it changes nothing, so
   * nothing needs to commit with it, and it is written once the transaction
   * ended, in one group commit with the chain's other reads (registerAuditReads)
   * instead of each read taking the chain's head lock and a durable commit of
   * its own. The guarantee is the same: the call that opened the transaction
   * returns only once the event committed, and fails with the writer's error,
   * its value never handed out, when it could not be written.
   */
  recordRead(event: AuditRecord): void;
  /**
   * A statement of this transaction already locked a chain's head and read it
   * (a credential write takes the tenant's revision and its audit head in one
   * statement, store/change-log.ts): the writer appends from it instead of
   * locking it again, one round trip less under both locks.
   */
  headLocked(chain: string, head: LockedAuditHead): void;
  readonly lockedHeads: ReadonlyMap<string, LockedAuditHead>;
}

/** A chain's head as a locking read returned it. */
export interface LockedAuditHead {
  seq: number;
  hash: Uint8Array;
}

/** What every write transaction hands its work: one value, so no part of it can be forgotten. */
export interface WriteTx extends TxOrigin {
  readonly tx: Transaction<Database>;
  /**
   * Runs `fn` once the transaction has committed, in the order given, and
   * before the call that opened the transaction returns; never on rollback.
   * Change-feed publishing goes here, so nothing is announced that did not
   * commit.
   */
  afterCommit(fn: () => unknown): void;
  readonly audit: AuditSeat;
}

/** A write transaction confined to one tenant by row-level security. */
export interface TenantTx extends WriteTx {
  readonly tenantId: string;
}

export interface TxOptions {
  isolation?: "read committed" | "repeatable read" | "serializable";
  /**
   * The call's signal (the handler context's): once the caller has gone, the
   * transaction rolls back instead of committing a write nobody was told of.
   */
  signal?: AbortSignal;
}

/**
 * Writes an audit seat's records inside the transaction, before commit. The
 * audit log registers one per database handle at start (a handle per server,
 * so servers sharing a process stay apart); until one is registered, a record
 * with nowhere to go fails its transaction rather than vanish.
 */
export type AuditWriter = (t: WriteTx, records: readonly AuditRecord[]) => Promise<void>;
const auditWriters = new WeakMap<Kysely<Database>, AuditWriter>();
export function registerAuditWriter(db: Kysely<Database>, writer: AuditWriter): void {
  auditWriters.set(db, writer);
}

/**
 * Writes reads' events (AuditSeat.recordRead) after their transaction, each
 * record naming its own actor and request: resolves once they committed. One
 * per database handle, like the writer (store/audit-batches.ts).
 */
export type AuditReadWriter = (tenantId: string, records: readonly AuditRecord[]) => Promise<void>;
const auditReadWriters = new WeakMap<Kysely<Database>, AuditReadWriter>();
export function registerAuditReads(db: Kysely<Database>, writer: AuditReadWriter): void {
  auditReadWriters.set(db, writer);
}

/**
 * The only way services touch tenant tables. The transaction runs as the
 * application role with `engine.tenant_id` set for its duration only
 * (set_config(..., true) is SET LOCAL), so even a query that forgets its
 * tenant filter sees no other tenant's rows: row-level security is the
 * defence in depth behind every explicit `where tenant_id = …`.
 */
export function withTenant<T>(
  db: Kysely<Database>,
  scope: TenantScope,
  fn: (t: TenantTx) => Promise<T>,
  options: TxOptions = {},
): Promise<T> {
  return run<T, TenantTx>(db, scope, options, scope.tenantId, async (t) => {
    await enterTenant(t.tx, scope.tenantId);
    return fn(t);
  });
}

/**
 * A write transaction on the owner connection, for what is not one tenant's:
 * the tenants table, people across their tenants, platform state. The same
 * value as withTenant's, without the tenant confinement.
 */
export function withPlatform<T>(
  db: Kysely<Database>,
  origin: TxOrigin,
  fn: (t: WriteTx) => Promise<T>,
  options: TxOptions = {},
): Promise<T> {
  return run(db, origin, options, undefined, fn);
}

/**
 * One transaction for withTenant (tenantId given: the value is a TenantTx)
 * and withPlatform. The audit writer is handed the very value the work was,
 * so it knows which chain a tenant transaction's events belong to.
 */
async function run<T, X extends WriteTx = WriteTx>(
  db: Kysely<Database>,
  origin: TxOrigin,
  options: TxOptions,
  tenantId: string | undefined,
  body: (t: X) => Promise<T>,
): Promise<T> {
  const signal = options.signal ?? origin.signal;
  signal?.throwIfAborted();
  for (let attempt = 1; ; attempt++) {
    const after: Array<() => unknown> = [];
    const reads: AuditRecord[] = [];
    try {
      const result = await attemptOnce(db, origin, options, tenantId, body, after, reads, signal);
      for (const f of after) await f();
      if (reads.length > 0) await writeReads(db, origin, tenantId, reads);
      return result;
    } catch (err) {
      // A snapshot transaction (repeatable read, serializable) that lost a race to a concurrent writer — the
      // audit chain head, which every audited read of the tenant updates — is run again on a fresh snapshot,
      // as PostgreSQL's documentation asks. Only those: their bodies are reads plus the audit seat, which
      // rolled back with them. Read-committed transactions never fail this way.
      if (!options.isolation || options.isolation === "read committed" || attempt >= SNAPSHOT_ATTEMPTS) throw err;
      if (!isSerializationFailure(err) || signal?.aborted) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/** Tries of a snapshot transaction that keeps losing serialization races before its error reaches the caller. */
const SNAPSHOT_ATTEMPTS = 4;

/** SQLSTATE 40001 (serialization_failure) or 40P01 (deadlock_detected). */
const isSerializationFailure = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "40001" || code === "40P01";
};

async function attemptOnce<T, X extends WriteTx>(
  db: Kysely<Database>,
  origin: TxOrigin,
  options: TxOptions,
  tenantId: string | undefined,
  body: (t: X) => Promise<T>,
  after: Array<() => unknown>,
  reads: AuditRecord[],
  signal: AbortSignal | undefined,
): Promise<T> {
  const pending: AuditRecord[] = [];
  const lockedHeads = new Map<string, LockedAuditHead>();
  const builder = options.isolation ? db.transaction().setIsolationLevel(options.isolation) : db.transaction();
  return builder.execute(async (tx) => {
    const base: WriteTx = {
      tx,
      actor: origin.actor,
      request: origin.request,
      afterCommit: (f) => void after.push(f),
      audit: {
        record: (e) => void pending.push(e),
        pending,
        recordRead: (e) => void reads.push(e),
        headLocked: (chain, head) => void lockedHeads.set(chain, head),
        lockedHeads,
      },
      ...(tenantId === undefined ? {} : { tenantId }),
    };
    const value = await body(base as X);
    if (pending.length > 0) {
      const auditWriter = auditWriters.get(db);
      if (!auditWriter) throw new Error(`audit records (${pending[0].action}) made with no audit writer registered`);
      await auditWriter(base, pending);
    }
    // Checked as late as possible: a database that stalled the statements above
    // may answer long after the caller gave up; throwing here rolls back.
    signal?.throwIfAborted();
    return value;
  });
}

/** Hands a transaction's reads, each with its actor and request, to the registered read writer of its chain. */
async function writeReads(db: Kysely<Database>, origin: TxOrigin, tenantId: string | undefined, reads: AuditRecord[]) {
  const writer = auditReadWriters.get(db);
  if (!writer) throw new Error(`audit reads (${reads[0].action}) made with no read writer registered`);
  const byChain = new Map<string, AuditRecord[]>();
  for (const r of reads) {
    const chain = r.tenantId ?? tenantId;
    if (chain === undefined) throw new Error(`audit read ${r.action} outside a tenant names no tenant chain`);
    const named = { ...r, actor: r.actor ?? origin.actor, request: r.request ?? origin.request };
    byChain.set(chain, [...(byChain.get(chain) ?? []), named]);
  }
  await Promise.all([...byChain].map(([chain, records]) => writer(chain, records)));
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
