import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { lockTenantRevision, raiseRetainedFrom, takeNextRevision } from "./tenant-revisions.js";
import type { ChangeKindColumn, Database, TenantChangesTable, TombstoneInfo } from "./schema.js";

/** One entry of a tenant's change log: the latest change of one resource (migration 0010). */
export type ChangeLogRow = Selectable<TenantChangesTable>;
type Tx = Transaction<Database>;

export interface ChangeRecord {
  kind: ChangeKindColumn;
  resourceId: string;
  /** Who sees it: a credential's project ("" for tenant-wide), a project record's own name. */
  project: string;
  /** Set for a delete: what the delete message needs once the resource row is gone. */
  tombstone?: TombstoneInfo;
  /**
   * The live credential row of this change takes the revision in the same
   * statement: the row is written first (at any revision), so the tenant's
   * revision lock is held from this statement on, not from before the row's write.
   */
  stampCredential?: boolean;
  /**
   * Also lock the tenant's audit chain head in the same statement and return
   * it: the audit writer then appends from it (AuditSeat.headLocked) instead
   * of locking it in a round trip of its own under the revision lock.
   */
  lockAuditHead?: boolean;
}

/** The revision a change took, and the tenant's audit chain head when asked for and it exists. */
export interface RecordedChange {
  revision: number;
  auditHead?: { seq: number; hash: Uint8Array };
}

/**
 * Takes the tenant's next revision (store/tenant-revisions.ts) and records
 * the change at it, replacing the resource's previous entry (the log keeps
 * the latest change per resource), in one statement; resolves to the
 * revision. From here to commit the transaction holds the tenant's revision
 * lock, which serialises the tenant's writers: call it as late as the write
 * allows, and every statement it saves is time those writers do not wait.
 */
export async function recordChangeAtNextRevision(tx: Tx, tenantId: string, c: ChangeRecord): Promise<RecordedChange> {
  const row = await tx
    .with("next", (qb) => takeNextRevision(qb, tenantId))
    // Evaluated only when the RETURNING list below refers to it.
    .with("head", (qb) => qb.selectFrom("audit_heads").select(["seq", "hash"]).where("chain", "=", tenantId).forUpdate())
    // One statement shape for every change: unasked, the id is NULL and the update matches nothing.
    .with("stamped", (qb) =>
      qb
        .updateTable("credentials")
        .set({ revision: sql<number>`(SELECT revision FROM next)` })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", sql<string>`${c.stampCredential ? c.resourceId : null}::uuid`),
    )
    .insertInto("tenant_changes")
    .columns(["tenant_id", "kind", "resource_id", "revision", "project", "deleted_at", "tombstone"])
    .expression((eb) =>
      eb.selectFrom("next").select([
        // Typed here: parameters in a SELECT list have no column to take their type from.
        sql<string>`${tenantId}::uuid`.as("tenant_id"),
        sql<ChangeKindColumn>`${c.kind}::text`.as("kind"),
        sql<string>`${c.resourceId}::text`.as("resource_id"),
        "next.revision",
        sql<string>`${c.project}::text`.as("project"),
        (c.tombstone ? sql<Date>`now()` : sql<Date | null>`NULL::timestamptz`).as("deleted_at"),
        sql<string>`${JSON.stringify(c.tombstone ?? {})}::jsonb`.as("tombstone"),
      ]),
    )
    .onConflict((oc) =>
      oc.columns(["tenant_id", "kind", "resource_id"]).doUpdateSet((eb) => ({
        revision: eb.ref("excluded.revision"),
        project: eb.ref("excluded.project"),
        deleted_at: eb.ref("excluded.deleted_at"),
        tombstone: eb.ref("excluded.tombstone"),
      })),
    )
    .returning((eb) => [
      "revision",
      ...(c.lockAuditHead
        ? [eb.selectFrom("head").select("seq").as("head_seq"), eb.selectFrom("head").select("hash").as("head_hash")]
        : []),
    ])
    .executeTakeFirstOrThrow();
  const { head_seq, head_hash } = row as { head_seq?: number | string | null; head_hash?: Uint8Array | null };
  return {
    revision: Number(row.revision),
    ...(head_seq != null && head_hash ? { auditHead: { seq: Number(head_seq), hash: head_hash } } : {}),
  };
}

export interface ChangeRange {
  /** Only these kinds; all when absent. */
  kinds?: readonly ChangeKindColumn[];
  /** Only entries visible to this project: its own and the tenant-wide ones. All when absent. */
  visibleTo?: string;
  limit?: number;
}

/**
 * The changes after `since`, tombstones included, in revision order: one
 * range scan on (tenant_id, revision). With since = undefined: the live
 * resources (a snapshot), still in revision order.
 */
export async function changesAfter(
  tx: Tx,
  tenantId: string,
  since: number | undefined,
  range: ChangeRange = {},
): Promise<ChangeLogRow[]> {
  let q = tx.selectFrom("tenant_changes").selectAll().where("tenant_id", "=", tenantId).orderBy("revision");
  q = since === undefined ? q.where("deleted_at", "is", null) : q.where("revision", ">", since);
  if (range.kinds) q = q.where("kind", "in", range.kinds);
  if (range.visibleTo !== undefined) q = q.where("project", "in", [range.visibleTo, ""]);
  if (range.limit !== undefined) q = q.limit(range.limit);
  return q.execute();
}

/**
 * Tenants holding tombstones deleted before `before`. A read across tenants
 * (ids only), on the owner connection: the purge then works in each tenant's
 * own transaction.
 */
export async function tenantsWithTombstones(db: Kysely<Database>, before: Date, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom("tenant_changes")
    .select("tenant_id")
    .distinct()
    .where("deleted_at", "<", before)
    .limit(limit)
    .execute();
  return rows.map((r) => r.tenant_id);
}

/**
 * Deletes the tenant's tombstones from before `before` (of every kind) and
 * raises `retained_from` to the newest purged revision, in one transaction
 * under the tenant's revision lock: a runtime resuming from before that
 * revision could have missed a purged delete, so it gets a RESET and a full
 * snapshot instead.
 */
export async function purgeTombstones(tx: Tx, tenantId: string, before: Date): Promise<number> {
  await lockTenantRevision(tx, tenantId);
  const purged = await tx
    .deleteFrom("tenant_changes")
    .where("tenant_id", "=", tenantId)
    .where("deleted_at", "<", before)
    .returning("revision")
    .execute();
  if (purged.length === 0) return 0;
  const newest = purged.reduce((max, r) => Math.max(max, Number(r.revision)), 0);
  await raiseRetainedFrom(tx, tenantId, newest);
  return purged.length;
}
