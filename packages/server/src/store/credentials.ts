import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { lockTenantRevision, raiseRetainedFrom } from "./tenant-revisions.js";
import type { CredentialTypeColumn, CredentialsTable, Database, KeyInfo, Tx } from "./schema.js";

export type CredentialRow = Selectable<CredentialsTable>;

export interface CredentialName {
  project: string;
  provider: string;
  alias: string;
}

export async function findLiveCredential(tx: Tx, tenantId: string, name: CredentialName, lock = false) {
  let q = tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("project", "=", name.project)
    .where("provider", "=", name.provider)
    .where("alias", "=", name.alias)
    .where("deleted_at", "is", null);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function findCredentialById(tx: Tx, tenantId: string, id: string, lock = false) {
  let q = tx.selectFrom("credentials").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).where("deleted_at", "is", null);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export interface CredentialWrite extends CredentialName {
  id: string;
  type: CredentialTypeColumn;
  identity: Record<string, string>;
  metadata: Record<string, string>;
  scopes: string[];
  keyInfo: KeyInfo;
  sealedKeys: Uint8Array;
  autoRefresh: boolean;
  version: number;
  revision: number;
  actor: string;
}

const PG_UNIQUE_VIOLATION = "23505";

/** Inserts version 1 or replaces the live row; a concurrent creator of the same name loses with a conflict. */
export async function writeCredential(tx: Tx, tenantId: string, w: CredentialWrite): Promise<CredentialRow> {
  const values = {
    type: w.type,
    identity: JSON.stringify(w.identity),
    metadata: JSON.stringify(w.metadata),
    scopes: w.scopes,
    key_info: JSON.stringify(w.keyInfo),
    sealed_keys: w.sealedKeys,
    auto_refresh: w.autoRefresh,
    version: w.version,
    revision: w.revision,
    updated_by: w.actor,
  };
  if (w.version > 1) {
    return tx
      .updateTable("credentials")
      .set({ ...values, updated_at: sql`now()` })
      .where("tenant_id", "=", tenantId)
      .where("id", "=", w.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  try {
    return await tx
      .insertInto("credentials")
      .values({ tenant_id: tenantId, id: w.id, project: w.project, provider: w.provider, alias: w.alias, created_by: w.actor, ...values })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if ((err as { code?: string }).code === PG_UNIQUE_VIOLATION) {
      throw new DomainError("aborted", ErrorReason.VERSION_CONFLICT, "the credential was created concurrently; read it and retry");
    }
    throw err;
  }
}

/** Leaves a tombstone: no secrets, a new revision, so watchers learn of the delete. */
export async function tombstoneCredential(tx: Tx, tenantId: string, row: CredentialRow, revision: number, actor: string) {
  return tx
    .updateTable("credentials")
    .set({
      deleted_at: sql`now()`,
      updated_at: sql`now()`,
      sealed_keys: null,
      key_info: "{}",
      version: row.version + 1,
      revision,
      updated_by: actor,
    })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", row.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Tenants holding tombstones deleted before `before`. A read across tenants
 * (ids only), on the owner connection: the purge then works in each tenant's
 * own transaction.
 */
export async function tenantsWithTombstones(db: Kysely<Database>, before: Date, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom("credentials")
    .select("tenant_id")
    .distinct()
    .where("deleted_at", "<", before)
    .limit(limit)
    .execute();
  return rows.map((r) => r.tenant_id);
}

/**
 * Deletes the tenant's tombstones from before `before` and raises
 * `retained_from` to the newest purged revision, in one transaction under the
 * tenant's revision lock: a runtime resuming from before that revision could
 * have missed a purged delete, so it gets a RESET and a full snapshot instead.
 */
export async function purgeTombstones(tx: Tx, tenantId: string, before: Date): Promise<number> {
  await lockTenantRevision(tx, tenantId);
  const purged = await tx
    .deleteFrom("credentials")
    .where("tenant_id", "=", tenantId)
    .where("deleted_at", "<", before)
    .returning("revision")
    .execute();
  if (purged.length === 0) return 0;
  const newest = purged.reduce((max, r) => Math.max(max, Number(r.revision)), 0);
  await raiseRetainedFrom(tx, tenantId, newest);
  return purged.length;
}

export interface CredentialCursor {
  provider: string;
  alias: string;
  project: string;
  id: string;
}

/**
 * Live credentials by (provider, alias, project, id). `visibleTo` keeps those
 * of one project plus the tenant-wide ones; `projects` (a token's scope)
 * keeps those of the listed projects plus the tenant-wide ones;
 * `allowedProjectsOnly` keeps those of projects the tenant's policy allows
 * plus the tenant-wide ones.
 */
export async function listCredentials(
  tx: Tx,
  tenantId: string,
  opts: {
    limit: number;
    after?: CredentialCursor;
    visibleTo?: string;
    provider?: string;
    scope?: readonly string[];
    allowedProjectsOnly?: boolean;
  },
): Promise<CredentialRow[]> {
  let q = tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("deleted_at", "is", null)
    .orderBy("provider")
    .orderBy("alias")
    .orderBy("project")
    .orderBy("id")
    .limit(opts.limit);
  if (opts.visibleTo) q = q.where("project", "in", [opts.visibleTo, ""]);
  if (opts.scope && opts.scope.length > 0) q = q.where("project", "in", [...opts.scope, ""]);
  if (opts.allowedProjectsOnly) {
    q = q.where((eb) =>
      eb.or([
        eb("project", "=", ""),
        eb("project", "in", eb.selectFrom("projects").select("name").where("tenant_id", "=", tenantId).where("state", "=", "allowed")),
      ]),
    );
  }
  if (opts.provider) q = q.where("provider", "=", opts.provider);
  if (opts.after) {
    const a = opts.after;
    q = q.where(sql<boolean>`(provider, alias, project, id) > (${a.provider}, ${a.alias}, ${a.project}, ${a.id}::uuid)`);
  }
  return q.execute();
}

/**
 * What a runtime of `project` has to apply after `since`: one indexed range
 * scan on (tenant_id, revision), tombstones included, in revision order.
 * With since = undefined: the live snapshot.
 */
export async function credentialChanges(tx: Tx, tenantId: string, project: string, since?: number): Promise<CredentialRow[]> {
  let q = tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("project", "in", [project, ""])
    .orderBy("revision");
  q = since === undefined ? q.where("deleted_at", "is", null) : q.where("revision", ">", since);
  return q.execute();
}

/** Changes after `since` for every project at once: what the sync hub fans out. */
export async function tenantChangesAfter(tx: Tx, tenantId: string, since: number, limit: number): Promise<CredentialRow[]> {
  return tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("revision", ">", since)
    .orderBy("revision")
    .limit(limit)
    .execute();
}

/** Live credentials of the tenant: what its credential quota counts. */
export async function countLiveCredentials(tx: Tx, tenantId: string): Promise<number> {
  const row = await tx
    .selectFrom("credentials")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("tenant_id", "=", tenantId)
    .where("deleted_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
