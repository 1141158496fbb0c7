import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

/** What a runtime says it is (WatchRequest.runtime); empty strings where it said nothing. */
export interface RuntimeInfoColumns {
  name: string;
  version: string;
  host: string;
  sdk: string;
  sdk_version: string;
  language: string;
}

/** One stream's presence as a flush writes it. */
export interface PresenceWrite {
  tenantId: string;
  streamId: string;
  principalKind: "token" | "user";
  principalId: string;
  principalLabel: string;
  project: string;
  runtimeId: string;
  info: RuntimeInfoColumns;
  serverInstance: string;
  connectedAt: Date;
  revisionDelivered: number;
  /** The stream has ended: the row is marked offline (once; a later write keeps the first end). */
  ended: boolean;
}

/** Rows per statement: 17 parameters each, well under PostgreSQL's 65,535 per statement. */
const ROWS_PER_STATEMENT = 1_000;

/**
 * Writes the presence of many streams, of any tenants, in one statement per
 * thousand rows. Every row's last_seen_at is now on the database's clock and
 * its stale_at `staleAfterMs` later: the writer's promise to write again
 * before then. On the owner connection: the server's own bookkeeping across
 * tenants, never a request's write (the application role may only read).
 * Returns the statements run.
 */
export async function writePresence(db: Kysely<Database>, rows: readonly PresenceWrite[], staleAfterMs: number): Promise<number> {
  let statements = 0;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    await db
      .insertInto("runtime_presence")
      .values(
        chunk.map((r) => ({
          tenant_id: r.tenantId,
          stream_id: r.streamId,
          principal_kind: r.principalKind,
          principal_id: r.principalId,
          principal_label: r.principalLabel,
          project: r.project,
          runtime_id: r.runtimeId,
          ...r.info,
          server_instance: r.serverInstance,
          connected_at: r.connectedAt,
          last_seen_at: sql<Date>`now()`,
          stale_at: sql<Date>`now() + ${staleAfterMs} * interval '1 millisecond'`,
          disconnected_at: r.ended ? sql<Date>`now()` : null,
          revision_delivered: r.revisionDelivered,
        })),
      )
      .onConflict((oc) =>
        oc.columns(["tenant_id", "stream_id"]).doUpdateSet((eb) => ({
          last_seen_at: eb.ref("excluded.last_seen_at"),
          stale_at: eb.ref("excluded.stale_at"),
          revision_delivered: eb.ref("excluded.revision_delivered"),
          disconnected_at: sql<Date | null>`coalesce(runtime_presence.disconnected_at, excluded.disconnected_at)`,
        })),
      )
      .execute();
    statements++;
  }
  return statements;
}

/** A listed runtime, with its state and lag computed now, on the database's clock. */
export interface PresenceRow {
  tenant_id: string;
  stream_id: string;
  principal_kind: "token" | "user";
  principal_id: string;
  principal_label: string;
  project: string;
  runtime_id: string;
  name: string;
  version: string;
  host: string;
  sdk: string;
  sdk_version: string;
  language: string;
  server_instance: string;
  connected_at: Date;
  last_seen_at: Date;
  /** Null while connected: the end of the stream, or the last sign of life of a server that stopped reporting. */
  offline_since: Date | null;
  revision_delivered: number;
  revision_lag: number;
}

/** Where a page of runtimes resumes: after this (tenant, project, stream). */
export interface PresenceCursor {
  tenant: string;
  project: string;
  stream: string;
}

/**
 * Runtimes by tenant, project and stream. `tenantId` undefined reads every
 * tenant: only on the owner connection, for platform administrators; a
 * tenant's own listing runs in its tenant transaction, under row-level security.
 */
export async function listPresence(
  ex: Kysely<Database>,
  q: { tenantId?: string; project: string; includeOffline: boolean; after?: PresenceCursor; limit: number },
): Promise<PresenceRow[]> {
  const offline = sql<boolean>`(p.disconnected_at IS NOT NULL OR p.stale_at <= now())`;
  let query = ex
    .selectFrom("runtime_presence as p")
    .leftJoin("tenant_revisions as r", "r.tenant_id", "p.tenant_id")
    .select([
      "p.tenant_id",
      "p.stream_id",
      "p.principal_kind",
      "p.principal_id",
      "p.principal_label",
      "p.project",
      "p.runtime_id",
      "p.name",
      "p.version",
      "p.host",
      "p.sdk",
      "p.sdk_version",
      "p.language",
      "p.server_instance",
      "p.connected_at",
      "p.last_seen_at",
      sql<Date | null>`CASE WHEN ${offline} THEN coalesce(p.disconnected_at, p.last_seen_at) END`.as("offline_since"),
      "p.revision_delivered",
      sql<number>`greatest(coalesce(r.revision, 0) - p.revision_delivered, 0)`.as("revision_lag"),
    ]);
  if (q.tenantId !== undefined) query = query.where("p.tenant_id", "=", q.tenantId);
  if (q.project) query = query.where("p.project", "=", q.project);
  if (!q.includeOffline) query = query.where(sql<boolean>`NOT ${offline}`);
  if (q.after) {
    const a = q.after;
    query = query.where(
      sql<boolean>`(p.tenant_id, p.project, p.stream_id) > (${a.tenant}::uuid, ${a.project}, ${a.stream}::uuid)`,
    );
  }
  const rows = await query.orderBy("p.tenant_id").orderBy("p.project").orderBy("p.stream_id").limit(q.limit).execute();
  return rows.map((r) => ({ ...r, revision_delivered: Number(r.revision_delivered), revision_lag: Number(r.revision_lag) }));
}

/** Deletes the rows offline since before `retentionMs` ago, across tenants (owner connection); returns how many. */
export async function purgeOfflinePresence(db: Kysely<Database>, retentionMs: number): Promise<number> {
  const result = await db
    .deleteFrom("runtime_presence")
    .where(sql<boolean>`coalesce(disconnected_at, stale_at) < now() - ${retentionMs} * interval '1 millisecond'`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
